"""What happens to the virtual estate over the horizon, the same for every design: faults
(``--scenario faults``, the default), AEM as a Cloud Service's churn (``--scenario autoscale``),
or nothing (``--scenario steady``: the estate as it is, to read what size alone does).

Times are seconds since the start; each event is an instant or a window (``duration``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

LIFETIME = 86_399  # what Adobe IMS grants (docs/wire-formats.md)


class EventKind(enum.Enum):
    """What happens to the virtual estate; the value is its label in reports, never parsed."""

    IMS_OUTAGE = "IMS outage"
    IMS_FLAKY = "IMS flaky (50% errors)"
    REVOCATION = "IMS revokes every token"
    RESTART = "restarts"  # a process restart: the node keeps its disk
    ANALYTICS_OUTAGE = "Analytics outage"
    SCALE_OUT = "scale out"
    SCALE_IN = "scale in"
    RECYCLE = "recycle"  # a new instance in place of the old one: an empty disk
    AUTHOR_OUTAGE = "author down (author-report)"  # no other design has an author


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # seconds since the start
    kind: EventKind
    duration: float = 0.0  # seconds; 0 = an instant
    nodes: tuple[str, ...] = ()  # the publishers it concerns (restarts, scaling)

    @property
    def end(self) -> float:
        return self.at + self.duration

    @property
    def label(self) -> str:
        """What a report shows: ``p2 restarts``, ``scale out (p1x, p2x, p3x)``."""
        if self.kind is EventKind.RESTART:
            return f"{', '.join(self.nodes)} {self.kind.value}"
        if self.nodes:
            shown = ", ".join(self.nodes[:3]) + ("..." if len(self.nodes) > 3 else "")
            return f"{self.kind.value} ({shown})"
        return str(self.kind.value)


def faults(horizon: float, publishers: tuple[str, ...]) -> tuple[Event, ...]:
    """One of each fault, mostly at fixed fractions of the horizon; the IMS outage starts an
    hour before the tokens obtained at start would expire for the second time (the first time
    on horizons under five days), so it catches any design that only fetches on expiry. Every
    window ends before the horizon does."""
    week = horizon >= 5 * 86_400
    expiries = 2 if week else 1
    restarted = publishers[1] if len(publishers) > 1 else publishers[0]
    events = (
        Event(expiries * LIFETIME - 3600, EventKind.IMS_OUTAGE, 3 * 3600),
        Event(0.36 * horizon, EventKind.IMS_FLAKY, 6 * 3600),
        Event(0.50 * horizon, EventKind.REVOCATION),
        Event(0.64 * horizon, EventKind.RESTART, 600, (restarted,)),
        Event(0.80 * horizon, EventKind.ANALYTICS_OUTAGE, 3600),
        # The author of author-report down for hours (a no-op for the designs without one).
        # Only in a week: in a day (a map cell) four hours would be a sixth of the run, and the
        # cell would read the outage instead of the estate.
        *((Event(0.88 * horizon, EventKind.AUTHOR_OUTAGE, 4 * 3600),) if week else ()),
    )
    return tuple(_within(e, horizon) for e in events if e.at < horizon)


def autoscale(horizon: float, publishers: tuple[str, ...]) -> tuple[Event, ...]:
    """AEM as a Cloud Service (docs/aem-cloud-service.md): the publish tier scales out to twice
    its size, in to two thirds of the start, back to its size, and every instance is recycled
    at least once; a new or recycled instance starts with an empty disk."""
    n = len(publishers)
    extra = tuple(f"{p}x" for p in publishers)  # the instances the tier scales out with
    keep = publishers[: max(1, (2 * n) // 3)]
    leave = publishers[len(keep) :] + extra
    events = [
        Event(0.20 * horizon, EventKind.SCALE_OUT, nodes=extra),
        Event(0.40 * horizon, EventKind.SCALE_IN, nodes=leave),
        Event(0.60 * horizon, EventKind.SCALE_OUT, nodes=leave[: n - len(keep)]),
    ]
    back = leave[: n - len(keep)]
    for i, node in enumerate((*keep, *back)):  # recycled one after another
        events.append(
            Event((0.70 + 0.25 * i / max(1, n)) * horizon, EventKind.RECYCLE, nodes=(node,))
        )
    return tuple(events)


def _within(event: Event, horizon: float) -> Event:
    end = min(event.end, horizon)
    return Event(event.at, event.kind, end - event.at, event.nodes)


def within(windows: Sequence[tuple[float, float]], at: float) -> bool:
    """Whether ``at`` falls in one of ``windows`` ((start, end), the end left out). A loop, not
    any() over a generator (ruff SIM110): the virtual world asks once per Analytics call."""
    for start, end in windows:  # noqa: SIM110
        if start <= at < end:
            return True
    return False


def steady(horizon: float, publishers: tuple[str, ...]) -> tuple[Event, ...]:
    """Nothing happens: what the size and the design alone do."""
    return ()


TIMELINES = {"faults": faults, "autoscale": autoscale, "steady": steady}
