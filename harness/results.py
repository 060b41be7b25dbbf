"""What a comparison reports about one run, real or virtual: one model for both, so that the
table, the plots and the answers read the same columns whichever world produced them.

A run is judged by its :class:`Check` list (the scenario's invariants on real processes; the
week's checks in virtual time); :attr:`Row.passed` counts those that held.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    measured: str


@dataclass(frozen=True, slots=True)
class Row:
    design: str  # a token strategy, with its parameter and report sharing: per-node+shared-report
    scenario: str
    publishers: int
    sticky: bool | None  # None: no load balancer in that world (the virtual one)
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
    served_during_ims_outage: str | None = None  # e.g. "100% (33% fresh)"
    recovery_s: float | None = None
    token_calls_on_restart: float | None = None
    token_calls_per_start: float | None = None  # autoscale: per new or recycled instance
    run_folder: str = ""
    wall_seconds: float | None = None

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.checks)

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
