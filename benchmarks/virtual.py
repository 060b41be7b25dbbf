"""The virtual world's cost: milliseconds of wall time per node-day simulated (per-node
tokens and reports, a quiet day), at 3, 12 and 50 publishers, for the cheapest cadence (the
report every 30 minutes, Adobe's advice) and the dearest (a report on every page load: a call
per request that finds none in flight). Each size is set against 3 publishers at the same
cadence (linear or better: the ratio stays near 1 as N grows), and each page-load row against
the 30-minute row of its size (what the traffic costs). Issue 28's goal: 5 ms per node-day at
50 publishers.

With a report on every page load the cost is the Analytics calls, so one more row sets the
world's wall time per call against what the bare operations of a call cost in the same run
(:func:`bare_call_us`): the goal, divided by the calls a node makes in a day, is a budget per
call that the row compares with both."""

from __future__ import annotations

import bisect
import heapq
import math
import random
import time
from array import array
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure
from core.topology import LatencyConfig, RateLimitConfig, load_topology
from harness.designs import Design
from harness.map.cadences import cadence_label
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings
from upstream.analytics.latency import LatencyModel

ROOT = Path(__file__).resolve().parent.parent
SIZES = (3, 12, 50)
CADENCES = (1800.0, 0.0)  # the report every 30 minutes; on every page load
DAYS = 1.0
GOAL_MS = 5.0  # per node-day at the largest size
BARE_CALLS = 200_000  # calls timed for the bare operations' cost


def run() -> tuple[list[Figure], dict[str, Any]]:
    base = load_topology(ROOT / "topology.yaml")
    cost: dict[tuple[float, int], float] = {}  # (cadence, size) -> ms per node-day
    calls: dict[tuple[float, int], int] = {}  # (cadence, size) -> Analytics calls
    for cadence in CADENCES:
        for n in SIZES:
            settings = VirtualSettings(
                horizon=DAYS * 86_400, publishers=n, scenario="steady", refresh=cadence
            )
            result = simulate(Design.parse("per-node"), settings, base)
            cost[cadence, n] = result.wall_seconds / (n * DAYS) * 1000
            calls[cadence, n] = result.analytics_calls
    figures = []
    for cadence in CADENCES:
        label = cadence_label(cadence)
        for n in SIZES:
            largest = n == SIZES[-1]
            figures.append(
                Figure(
                    "virtual",
                    f"{n} publishers, a report {label}: wall time per node-day",
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
    analytics = base.simulation.analytics
    bare_us = bare_call_us(analytics.rate_limit, analytics.latency)
    figures.append(_per_call(cost, calls, bare_us))
    raw = {f"{cadence_label(c)}, {n} publishers": ms for (c, n), ms in cost.items()}
    counted = {f"{cadence_label(c)}, {n} publishers": k for (c, n), k in calls.items()}
    return figures, {"ms_per_node_day": raw, "analytics_calls": counted}


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
        f"{n} publishers, a report per page load: wall time per Analytics call "
        f"({per_node_day:,.0f} calls per node-day: the goal leaves {budget_us:.2f} us a call)",
        world_us,
        "us",
        "the bare operations of a call, none of the world's code",
        bare_us,
        target=f"<= {budget_us:.2f} us",
        met=world_us <= budget_us,
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
    three weighted stretches appended for what users saw. A floor under a world that handles
    each call in Python: the token code, the report's rules and the counts come on top."""
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
