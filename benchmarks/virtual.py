"""The virtual world's cost, as the map runs it: milliseconds of wall time per node-day of one
of the map's cells (per-node tokens and reports, a virtual week of the standard faults,
untraced) at 3, 12 and 50 publishers, for the cheapest cadence (the report every 30 minutes,
Adobe's advice) and the dearest (a report on every page load: a call per request that finds
none in flight). Each size is set against 3 publishers at the same cadence (linear or better:
the ratio stays at or below 1 as N grows), and each page-load row against the 30-minute row
of its size (what the traffic costs). Issue 28's goal: 5 ms per node-day at 50 publishers.

Then: the C traffic engine against the Python reference on the same day (the same results,
checked field by field); the wall time per Analytics call against the bare operations of a
call in Python (:func:`bare_call_us`); a traced day (what the report's figures cost on top);
and the whole default map (every design x 3 sizes x 3 cadences, a week each) against its
cells' own time shared by the two cores (how well it uses both)."""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
import random
import time
from array import array
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure
from core.topology import LatencyConfig, RateLimitConfig, Topology, load_topology
from harness.designs import Design
from harness.map.cadences import cadence_label
from harness.map.cells import MapPlan, default_plan, run_cells
from harness.virtual.engine import engine_name
from harness.virtual.outcome import VirtualResult
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings
from upstream.analytics.latency import LatencyModel

ROOT = Path(__file__).resolve().parent.parent
SIZES = (3, 12, 50)
CADENCES = (1800.0, 0.0)  # the report every 30 minutes; on every page load
DAYS = 7.0  # a map cell
GOAL_MS = 5.0  # per node-day at the largest size
BARE_CALLS = 200_000  # calls timed for the bare operations' cost


def cell(base: Topology, n: int, cadence: float, *, days: float = DAYS, **more: Any) -> Any:
    """One run as the map runs its cells (a week of the standard faults, untraced)."""
    settings = VirtualSettings(
        horizon=days * 86_400, publishers=n, refresh=cadence, trace=False, **more
    )
    return simulate(Design.parse("per-node"), settings, base)


def run() -> tuple[list[Figure], dict[str, Any]]:
    base = load_topology(ROOT / "topology.yaml")
    cost: dict[tuple[float, int], float] = {}  # (cadence, size) -> ms per node-day
    calls: dict[tuple[float, int], int] = {}  # (cadence, size) -> Analytics calls
    for cadence in CADENCES:
        for n in SIZES:
            result = cell(base, n, cadence)
            cost[cadence, n] = result.wall_seconds / (n * DAYS) * 1000
            calls[cadence, n] = result.analytics_calls
    figures = []
    engine = engine_name()
    for cadence in CADENCES:
        label = cadence_label(cadence)
        for n in SIZES:
            largest = n == SIZES[-1]
            figures.append(
                Figure(
                    "virtual",
                    f"{n} publishers, a report {label}: wall time per node-day "
                    f"(a map cell: a week of faults, the {engine} engine)",
                    cost[cadence, n],
                    "ms",
                    f"{SIZES[0]} publishers, {label}",
                    cost[cadence, SIZES[0]],
                    target=f"<= {GOAL_MS:g} ms" if largest else "",
                    met=cost[cadence, n] <= GOAL_MS if largest else None,
                )
            )
    for n in (SIZES[0], SIZES[-1]):
        figures.append(
            Figure(
                "virtual",
                f"{n} publishers: a report per page load against every 30m (the traffic's cost)",
                cost[0.0, n],
                "ms",
                "every 30m",
                cost[1800.0, n],
            )
        )
    figures.append(_engines(base))
    analytics = base.simulation.analytics
    bare_us = bare_call_us(analytics.rate_limit, analytics.latency)
    figures.append(_per_call(cost, calls, bare_us))
    figures.append(_traced(base))
    figures.append(_whole_map(base))
    raw = {f"{cadence_label(c)}, {n} publishers": ms for (c, n), ms in cost.items()}
    counted = {f"{cadence_label(c)}, {n} publishers": k for (c, n), k in calls.items()}
    return figures, {"ms_per_node_day": raw, "analytics_calls": counted, "engine": engine}


def _same(a: VirtualResult, b: VirtualResult) -> bool:
    one, other = dataclasses.asdict(a), dataclasses.asdict(b)
    return all(one[k] == other[k] for k in one if k != "wall_seconds")


def _engines(base: Topology) -> Figure:
    """The C engine against the reference on the same day at 50 publishers, page loads."""
    settings = VirtualSettings(horizon=86_400.0, publishers=50, refresh=0.0, trace=False)
    design = Design.parse("per-node")
    if engine_name() != "c":
        python = simulate(design, settings, base, engine="python")
        return Figure(
            "virtual",
            "the C traffic engine: not built (no C compiler at make install)",
            python.wall_seconds,
            "s",
            "the Python reference",
            python.wall_seconds,
        )
    c = simulate(design, settings, base, engine="c")
    python = simulate(design, settings, base, engine="python")
    same = _same(c, python)
    return Figure(
        "virtual",
        "50 publishers, a report per page load, a day: the C traffic engine "
        f"({'every field the same' if same else 'RESULTS DIFFER'})",
        c.wall_seconds,
        "s",
        "the Python reference engine",
        python.wall_seconds,
        target="the same results",
        met=same,
    )


def _per_call(
    cost: dict[tuple[float, int], float], calls: dict[tuple[float, int], int], bare_us: float
) -> Figure:
    """The largest size, a report on every page load: wall time per Analytics call against
    the bare operations of one, and the budget per call that the goal leaves."""
    n = SIZES[-1]
    per_node_day = calls[0.0, n] / (n * DAYS)
    world_us = cost[0.0, n] * 1000 / per_node_day
    budget_us = GOAL_MS * 1000 / per_node_day
    return Figure(
        "virtual",
        f"{n} publishers, a report per page load: wall time per Analytics call, everything "
        f"included ({per_node_day:,.0f} calls per node-day: the goal leaves {budget_us:.2f} us)",
        world_us,
        "us",
        "the bare operations of a call in Python, none of the world's code",
        bare_us,
        target=f"<= {budget_us:.2f} us",
        met=world_us <= budget_us,
    )


def _traced(base: Topology) -> Figure:
    """What the report's figures cost on top: a quiet day traced against untraced."""
    runs = {
        trace: simulate(
            Design.parse("per-node"),
            VirtualSettings(
                horizon=86_400.0, publishers=50, scenario="steady", refresh=0.0, trace=trace
            ),
            base,
        )
        for trace in (True, False)
    }
    return Figure(
        "virtual",
        "50 publishers, a report per page load, a quiet day traced (the report's figures): "
        "wall time per node-day",
        runs[True].wall_seconds / 50 * 1000,
        "ms",
        "untraced",
        runs[False].wall_seconds / 50 * 1000,
    )


def _whole_map(base: Topology) -> Figure:
    """``python -m harness map``'s default: its wall time, against its cells' own time over
    the two cores (1.0x: both cores busy all along)."""
    plan: MapPlan = default_plan()
    started = time.perf_counter()
    cells = run_cells(base, plan, say=lambda line: None)
    wall = time.perf_counter() - started
    own = sum(c.result.wall_seconds for c in cells if c.result is not None)
    return Figure(
        "virtual",
        f"the default map ({len(cells)} cells, a virtual week each), wall time",
        wall,
        "s",
        f"its cells' own time over {plan.workers} cores",
        own / plan.workers,
        target="<= 60 s",
        met=wall <= 60.0,
    )


def bare_call_us(
    rate_limit: RateLimitConfig,
    latency: LatencyConfig,
    calls: int = BARE_CALLS,
    repeats: int = 3,
) -> float:
    """The fastest of ``repeats`` timings of :func:`_bare_calls` (a floor: the least it took),
    with the rate limit and the latency model of the runs it is set against."""
    return min(_bare_calls(rate_limit, latency, calls) for _ in range(repeats))


def _bare_calls(rate_limit: RateLimitConfig, latency: LatencyConfig, calls: int) -> float:
    """Microseconds per call for the bare operations the world does for each Analytics call,
    as the standard library's C parts with no function of ours between them: the call's event
    on and off a heap, the rate limit's sliding window (two bisections and an insert), the
    latency's log-normal draw and the in-flight heap, the next call's exponential wait, and
    three weighted stretches appended for what users saw. The floor of a world that handles
    each call in Python (the reference engine); the C engine is set against it."""
    rng = random.Random(1)
    requests, per, median = rate_limit.requests, rate_limit.per, latency.median
    sigma = LatencyModel(latency, rng).sigma
    rate = VirtualSettings().rate  # a node's page requests per second
    events: list[tuple[float, int, str]] = []
    window: list[float] = []
    ends: list[float] = []
    low, high, weight = array("d"), array("d"), array("d")
    at = 0.0
    started = time.perf_counter()
    for seq in range(calls):
        heapq.heappush(events, (at, seq, "node"))
        at = heapq.heappop(events)[0]
        if bisect.bisect_right(window, at) - bisect.bisect_right(window, at - per) < requests:
            bisect.insort(window, at)
        if len(window) > 1_000:
            del window[:500]
        while ends and ends[0] <= at:
            heapq.heappop(ends)
        seconds = median * math.exp(sigma * rng.gauss(0.0, 1.0))
        heapq.heappush(ends, at + seconds)
        for _ in range(3):
            low.append(at)
            high.append(at + seconds)
            weight.append(1.0)
        at += seconds + rng.expovariate(rate)
    return (time.perf_counter() - started) / calls * 1e6
