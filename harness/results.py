"""What a comparison reports about one run, real or virtual: one model for both, so that the
table, the plots and the answers read the same columns whichever world produced them.

A run is judged by its :class:`Check` list (the scenario's invariants on real processes; the
week's checks in virtual time); :attr:`Row.checks_held` counts those that held.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from harness.designs import Design


class World(enum.Enum):
    """Where a run ran: the estate's processes under Locust, or the virtual-time world."""

    REAL = "real processes"
    VIRTUAL = "virtual time"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    held: bool
    measured: str


@dataclass(frozen=True, slots=True)
class Row:
    design: Design
    world: World
    scenario: str
    publishers: int
    sticky: bool | None  # the balancer's stickiness; None where there is no balancer (virtual)
    checks: tuple[Check, ...]
    requests: int
    user_errors: int
    stale_responses: int
    token_calls: int
    token_calls_per_node: str
    peak_concurrent_token_calls: int
    analytics_401s: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    analytics_calls: int | None = None
    analytics_peak_per_minute: int | None = None
    analytics_mean_per_minute: float | None = None
    analytics_429s: int | None = None
    analytics_calls_per_hour: float | None = None
    report_age_p50_s: float | None = None  # how old the report users were shown was
    report_age_p99_s: float | None = None
    report_refresh_s: float | None = None  # the report's cadence (0: every page load)
    served_during_ims_outage: str | None = None  # e.g. "100% (33% fresh)"
    recovery_s: float | None = None
    token_calls_on_restart: float | None = None
    token_calls_per_start: float | None = None  # autoscale: per new or recycled instance
    session_moves: int | None = None  # a visitor's page came from another publisher
    token_leaks: int | None = None  # responses that carried a token (the leak check)
    horizon_s: float | None = None  # how long the run lasted, seconds
    lifetime_s: float | None = None  # the token lifetime IMS granted in it
    run_folder: str = ""
    wall_seconds: float | None = None

    @property
    def checks_held(self) -> int:
        return sum(c.held for c in self.checks)

    @property
    def all_held(self) -> bool:
        return all(c.held for c in self.checks)

    @property
    def invariants(self) -> int:
        return len(self.checks)


def per_node_summary(calls: dict[str, int]) -> str:
    """``p1:14 p2:14 p3:14``; for large estates the spread instead of every node."""
    if len(calls) <= 6:
        return " ".join(f"{n}:{c}" for n, c in calls.items())
    values = sorted(calls.values())
    return (
        f"{len(values)} nodes, {values[0]}..{values[-1]} each (median {values[len(values) // 2]})"
    )


@dataclass(frozen=True, slots=True)
class Fault:
    """Something that happened to the estate: a window (``end > start``) or an instant."""

    start: float  # seconds since the start of the run
    end: float
    label: str


@dataclass(frozen=True, slots=True)
class Trace:
    """One run over time, for the figure that shows its mechanism. Times are seconds since
    the start of the run; each series has one value per sample interval (ending at ``times``).
    """

    design: str
    horizon: float  # seconds the run lasted
    lifetime: float  # seconds: the token lifetime IMS granted
    times: tuple[float, ...]
    token_left: dict[str, tuple[float | None, ...]]  # per node shown: seconds of validity left
    nodes_total: int  # nodes in the run (token_left shows at most a few of them)
    token_calls: dict[str, tuple[float, ...]]  # per node shown: when IMS issued it a token
    analytics_per_minute: tuple[float, ...]  # calls Analytics answered, a minute...
    analytics_window: float  # ...averaged over this many seconds before each sample
    limit_per_minute: float | None  # Analytics' rate limit per client, if it has one
    refused_401: tuple[float, ...]  # Analytics calls refused per interval: bad token
    refused_429: tuple[float, ...]  # ... and over the rate limit
    stale: tuple[float, ...]  # requests served an old report, per interval
    errors: tuple[float, ...]  # requests that got no page, per interval
    faults: tuple[Fault, ...]
    latency_ecdf: tuple[tuple[float, float], ...]  # (ms, share of requests at or below)


@dataclass(frozen=True, slots=True)
class Run:
    """One run as the report shows it: its row, and over time when it was traced."""

    row: Row
    trace: Trace | None = None
