"""What users of the virtual estate saw, counted per request without an event per request:
requests arrive at a rate, and each stretch of time at that rate adds to the counts (fresh,
stale, errors), to how long they waited, and to how old the report they were shown was.

Waits and ages are kept as stretches (``count`` requests whose values lie uniformly between
two bounds) and read exactly at the end (:mod:`harness.virtual.distribution`): the
distribution of a mixture of uniform stretches is piecewise linear, so a percentile is that of
every request, not of the events that stood for them.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from harness.virtual.distribution import Distribution


@dataclass
class Spread:
    """Weighted stretches of durations (seconds), each uniform between its bounds; the
    requests that had exactly 0 s (those that waited for the report they got, aged 0) are one
    weight, ``at_zero``, not a stretch each."""

    low: array[float] = field(default_factory=lambda: array("d"))
    high: array[float] = field(default_factory=lambda: array("d"))
    weight: array[float] = field(default_factory=lambda: array("d"))
    total: float = 0.0
    at_zero: float = 0.0
    _distribution: tuple[tuple[int, float], Distribution] | None = field(default=None, repr=False)

    def add(self, low: float, high: float, count: float) -> None:
        if count > 0:  # (comparisons, not max(): this runs for every call of a virtual week)
            self.total += count
            if low == 0.0 and high == 0.0:
                self.at_zero += count
                return
            low = low if low > 0.0 else 0.0
            self.low.append(low)
            self.high.append(high if high > low else low)
            self.weight.append(count)

    def distribution(self) -> Distribution:
        """The requests' distribution (worked out once for the stretches there are: a report
        reads several percentiles)."""
        counted = (len(self.low), self.total)
        if self._distribution is not None and self._distribution[0] == counted:
            return self._distribution[1]
        low, high, weight = (
            np.frombuffer(a, dtype=np.float64) for a in (self.low, self.high, self.weight)
        )
        found = Distribution(low, high, weight, self.at_zero, self.total)
        self._distribution = (counted, found)
        return found

    def percentile(self, q: float) -> float:
        """The value below which a share ``q`` of the requests lies."""
        return self.distribution().percentile(q)

    def points(self, count: int = 200) -> tuple[tuple[float, float], ...]:
        """(seconds, share at or below it) at up to ``count`` values, for a figure."""
        return self.distribution().points(count)


@dataclass
class Users:
    """Every request of the site, counted by what it got."""

    fresh: float = 0.0
    stale: float = 0.0
    errors: float = 0.0
    waits: Spread = field(default_factory=Spread)  # seconds until the page had its data
    ages: Spread = field(default_factory=Spread)  # seconds since the report was fetched
    outage: dict[str, float] = field(  # during the IMS outage
        default_factory=lambda: {"requests": 0.0, "served": 0.0, "fresh": 0.0}
    )
    recovery_s: float | None = None

    @property
    def total(self) -> float:
        return self.fresh + self.stale + self.errors

    def served(self, count: float, *, stale: bool, in_outage: bool) -> None:
        """``count`` requests got a report, fresh or stale (their ages go to ``ages``: the
        report counts them, :meth:`harness.virtual.reports.ReportState.account`)."""
        if count <= 0:
            return
        if stale:
            self.stale += count
        else:
            self.fresh += count
        if in_outage:
            self.outage["requests"] += count
            self.outage["served"] += count
            self.outage["fresh"] += 0.0 if stale else count

    def failed(self, count: float, *, in_outage: bool) -> None:
        """``count`` requests got no report: an error page."""
        if count <= 0:
            return
        self.errors += count
        if in_outage:
            self.outage["requests"] += count

    def waited(self, count: float, low: float, high: float) -> None:
        """``count`` requests waited between ``low`` and ``high`` seconds (uniformly)."""
        self.waits.add(low, high, count)

    def outage_share(self, kind: str) -> float | None:
        asked = self.outage["requests"]
        return None if not asked else self.outage[kind] / asked

    def wait_percentile_ms(self, q: float) -> float:
        """Over every request; those that did not wait took 0 ms."""
        total = self.total
        waited = self.waits.total
        if not total or not waited:
            return 0.0
        rank = q * total - (total - waited)  # the ones that did not wait come first
        if rank <= 0:
            return 0.0
        return round(self.waits.percentile(min(1.0, rank / waited)) * 1000, 1)

    def ecdf(self) -> tuple[tuple[float, float], ...]:
        """(latency ms, share of requests at or below it), requests that did not wait at 0."""
        total = self.total
        if not total:
            return ()
        instant = total - self.waits.total
        points = [(0.0, instant / total)]
        for seconds, share in self.waits.points():
            points.append((round(seconds * 1000, 1), (instant + share * self.waits.total) / total))
        return tuple(points)


def users_from(
    fresh: float,
    stale: float,
    errors: float,
    waits: tuple[bytes, bytes, bytes, float, float],
    ages: tuple[bytes, bytes, bytes, float, float],
    outage: tuple[float, float, float],
    recovery_s: float | None,
) -> Users:
    """The counts of the C engine (:mod:`harness.virtual._traffic`) as :class:`Users`: each
    spread as its bounds and weights (native doubles), its total and its weight at 0 s."""

    def spread(parts: tuple[bytes, bytes, bytes, float, float]) -> Spread:
        low, high, weight = (array("d", part) for part in parts[:3])
        return Spread(low, high, weight, parts[3], parts[4])

    requests, served, fresh_in_outage = outage
    return Users(
        fresh=fresh,
        stale=stale,
        errors=errors,
        waits=spread(waits),
        ages=spread(ages),
        outage={"requests": requests, "served": served, "fresh": fresh_in_outage},
        recovery_s=recovery_s,
    )
