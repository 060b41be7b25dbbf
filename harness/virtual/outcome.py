"""What a virtual run measured: :class:`VirtualResult`, read off a finished
:class:`~harness.virtual.simulation.Simulation` by :func:`result_of`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.designs import Design
from harness.results import Trace
from harness.virtual.analytics import THROTTLED, UNAUTHORIZED
from harness.virtual.timeline import LIFETIME, Event, EventKind

if TYPE_CHECKING:
    from harness.virtual.simulation import Simulation

RESTART_WINDOW = 300.0  # "calls on restart/start": token calls in the first 5 minutes


@dataclass(frozen=True, slots=True)
class VirtualResult:
    design: Design
    scenario: str
    horizon: float
    publishers: int
    requests: int
    user_errors: int
    stale: int
    analytics_401s: int
    analytics_calls: int
    analytics_429s: int
    analytics_per_minute_peak: int
    analytics_per_minute_mean: float
    analytics_limit_per_minute: float
    token_calls: int
    token_calls_per_node: dict[str, int]
    peak_concurrent_token_calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    report_age_p50_s: float  # how old the report users were shown was
    report_age_p99_s: float
    analytics_calls_per_hour: float
    report_refresh: float  # analytics.report_refresh in the run (seconds; 0: every page load)
    served_during_ims_outage: float | None  # fraction answered at all (fresh or stale)
    fresh_during_ims_outage: float | None  # fraction answered with a fresh report
    recovery_s: float | None
    token_calls_on_restart: int | None
    token_calls_per_start: float | None
    token_call_times: dict[str, list[float]]  # hours since start, per node
    events: tuple[Event, ...]
    trace: Trace | None  # None: not traced (settings.trace off)
    wall_seconds: float


def result_of(sim: Simulation) -> VirtualResult:
    """The result of ``sim``, which has run to its horizon (its wall time is the caller's to
    set: :func:`harness.virtual.run.simulate` times the whole run)."""
    ims, users, counted = sim.ims, sim.traffic.seen(), sim.traffic.counts()
    callers = sorted(set(ims.issued_by_caller) | set(sim.publishers), key=_order)
    per_node = {n: ims.issued_by_caller.get(n, 0) for n in callers}
    times: dict[str, list[float]] = {n: [] for n in callers}
    for at, caller in ims.issued_log:
        times[caller].append(round((at - sim.start) / 3600, 3))
    minutes = math.ceil(sim.settings.horizon / 60)
    limit = sim.topology.simulation.analytics.rate_limit
    return VirtualResult(
        design=sim.design,
        scenario=sim.settings.scenario,
        horizon=sim.settings.horizon,
        publishers=len(sim.publishers),
        requests=round(users.total),
        user_errors=round(users.errors),
        stale=round(users.stale),
        analytics_401s=counted.by_outcome[UNAUTHORIZED],
        analytics_calls=counted.calls,
        analytics_429s=counted.by_outcome[THROTTLED],
        analytics_per_minute_peak=counted.per_minute_peak,
        analytics_per_minute_mean=round(counted.calls / minutes, 1),
        analytics_limit_per_minute=limit.requests * 60 / limit.per,
        token_calls=sum(per_node.values()),
        token_calls_per_node=per_node,
        peak_concurrent_token_calls=ims.peak_in_flight,
        p50_ms=users.wait_percentile_ms(0.50),
        p95_ms=users.wait_percentile_ms(0.95),
        p99_ms=users.wait_percentile_ms(0.99),
        report_age_p50_s=round(users.ages.percentile(0.50), 1),
        report_age_p99_s=round(users.ages.percentile(0.99), 1),
        analytics_calls_per_hour=round(counted.calls / (sim.settings.horizon / 3600), 1),
        report_refresh=sim.policy.refresh,
        served_during_ims_outage=users.outage_share("served"),
        fresh_during_ims_outage=users.outage_share("fresh"),
        recovery_s=None if users.recovery_s is None else round(users.recovery_s, 1),
        token_calls_on_restart=_calls_after(sim, EventKind.RESTART),
        token_calls_per_start=_calls_per_start(sim),
        token_call_times=times,
        events=sim.events,
        trace=None
        if not sim.settings.trace
        else sim.recorder.trace(
            sim.design.label,
            lifetime=LIFETIME,
            nodes_total=len(callers),
            issued=((at - sim.start, caller) for at, caller in ims.issued_log),
            limit_per_minute=limit.requests * 60 / limit.per if limit.enabled else None,
            events=sim.events,
            latency_ecdf=users.ecdf(),
        ),
        wall_seconds=0.0,
    )


def _calls_within(sim: Simulation, node_id: str, at: float) -> int:
    return sum(
        1
        for issued, caller in sim.ims.issued_log
        if caller == node_id and at <= issued - sim.start < at + RESTART_WINDOW
    )


def _calls_after(sim: Simulation, kind: EventKind) -> int | None:
    restarts = [e for e in sim.events if e.kind is kind]
    if not restarts:
        return None
    return sum(_calls_within(sim, n, e.end) for e in restarts for n in e.nodes)


def _calls_per_start(sim: Simulation) -> float | None:
    new = [(n, at) for n, at in sim.starts if sim.settings.scenario == "autoscale"]
    if not new:
        return None
    return round(sum(_calls_within(sim, n, at) for n, at in new) / len(new), 2)


def _order(node_id: str) -> tuple[int, str]:
    digits = "".join(c for c in node_id if c.isdigit())
    return (int(digits) if digits else 0, node_id)
