"""A virtual run over time (:class:`harness.results.Trace`): sampled by the driver at the end of
a window, at most every ``every`` seconds of virtual time, so that a week is about a thousand
samples whatever the size of the estate.

Each sample reads what a person would watch on the real estate: every shown node's seconds of
token validity left (its provider's ``status()``, as ``/status`` shows it), and since the
previous sample, Analytics' calls per minute, its 401s and 429s, and the requests users were
served stale or not at all: differences of running totals, so that every call counts in the
interval it was counted in (the driver handles a window's events ahead of its clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tokensim_token import TokenProvider

from harness.results import Fault, Trace
from harness.virtual.analytics import THROTTLED, UNAUTHORIZED, UNAVAILABLE
from harness.virtual.engine import TrafficCounts
from harness.virtual.timeline import Event

SAMPLES = 1000  # per run, about
NODES_SHOWN = 6  # a figure with more sawtooth lines than this is unreadable


@dataclass
class TraceRecorder:
    horizon: float
    every: float = field(init=False)
    times: list[float] = field(default_factory=list)
    token_left: dict[str, list[float | None]] = field(default_factory=dict)
    analytics_per_minute: list[float] = field(default_factory=list)
    refused_401: list[float] = field(default_factory=list)
    refused_429: list[float] = field(default_factory=list)
    stale: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    _last: float = 0.0
    _last_counts: dict[str, float] = field(default_factory=dict)  # running totals at _last

    def __post_init__(self) -> None:
        self.every = max(60.0, 60.0 * round(self.horizon / SAMPLES / 60.0))

    def due(self, now: float) -> bool:
        return now - self._last >= self.every or now >= self.horizon

    def sample(
        self,
        now: float,
        providers: Mapping[str, TokenProvider],
        counted: TrafficCounts,
    ) -> None:
        for node_id in providers:
            if node_id not in self.token_left and len(self.token_left) < NODES_SHOWN:
                self.token_left[node_id] = [None] * len(self.times)
        for node_id, lane in self.token_left.items():
            provider = providers.get(node_id)
            lane.append(None if provider is None else provider.status().seconds_left)
        outcomes = counted.by_outcome
        counts = {
            "answered": float(counted.calls - outcomes[UNAVAILABLE]),
            "unauthorized": float(outcomes[UNAUTHORIZED]),
            "throttled": float(outcomes[THROTTLED]),
            "stale": counted.stale,
            "errors": counted.errors,
        }
        delta = {k: v - self._last_counts.get(k, 0.0) for k, v in counts.items()}
        minutes = max(1.0, (now - self._last) / 60.0)
        self.analytics_per_minute.append(delta["answered"] / minutes)
        self.refused_401.append(delta["unauthorized"])
        self.refused_429.append(delta["throttled"])
        self.stale.append(delta["stale"])
        self.errors.append(delta["errors"])
        self.times.append(now)
        self._last, self._last_counts = now, counts

    def trace(
        self,
        design: str,
        *,
        lifetime: float,
        nodes_total: int,
        issued: Iterable[tuple[float, str]],
        limit_per_minute: float | None,
        events: Iterable[Event],
        latency_ecdf: tuple[tuple[float, float], ...],
    ) -> Trace:
        """``issued``: (seconds since the start, node) of every token IMS issued."""
        calls: dict[str, list[float]] = {n: [] for n in self.token_left}
        for at, node_id in issued:
            if node_id in calls:
                calls[node_id].append(at)
        return Trace(
            design=design,
            horizon=self.horizon,
            lifetime=lifetime,
            times=tuple(self.times),
            token_left={n: tuple(v) for n, v in self.token_left.items()},
            nodes_total=nodes_total,
            token_calls={n: tuple(v) for n, v in calls.items()},
            analytics_per_minute=tuple(self.analytics_per_minute),
            analytics_window=self.every,
            limit_per_minute=limit_per_minute,
            refused_401=tuple(self.refused_401),
            refused_429=tuple(self.refused_429),
            stale=tuple(self.stale),
            errors=tuple(self.errors),
            faults=tuple(Fault(e.at, e.end, e.label) for e in events),
            latency_ecdf=latency_ecdf,
        )
