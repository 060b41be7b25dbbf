"""How long a map will take, said before it starts: its cells' Analytics calls at the measured
cost of one call.

The virtual world's cost is its calls (docs/benchmarks.md): about 2 us each on the C traffic
engine, everything of a week's cell included (the token layer, the percentiles), and about
7.5 us on the Python reference, plus about 0.1 s per cell to build its estate. A cell whose
report is fetched every ``c`` seconds makes ``callers x horizon / c`` calls. With a report on
every page load each caller calls back to back, as fast as Analytics answers (about every
3 s: 28,800 a day), and the rate limit slows that as callers are added: with the shipped
topology 84,000 calls a day at 3 publishers, 115,000 at 10 and 179,000 at 50 (fitted below).
One caller for the whole cluster when the report is shared, published from the author or
cached at the edge.

A rough figure with one purpose: to say that a long map is long before it starts.
"""

from __future__ import annotations

import math

from core.topology import Topology
from harness.map.cells import MapPlan
from harness.map.defaults import DAY
from harness.virtual.engine import engine_name
from harness.virtual.nodes import report_cadence
from harness.virtual.timeline import LIFETIME

# Fits of 2026-12-07: the week's 90 cells (28.9 M calls) took 61 cell-seconds on the C engine
# and 227 on the reference (32 s and 1 min 55 s of wall on 2 cores).
SECONDS_PER_CALL = {"c": 1.8e-6, "python": 7.5e-6}
SECONDS_PER_CELL = 0.1
BACK_TO_BACK_PER_DAY = 28_800.0  # one caller on every page load: a call every 3 s
# Every page load, several callers: 47,000 + 34,000 ln(callers) a day (3, 10, 50 publishers).
PAGE_LOAD_BASE, PAGE_LOAD_PER_LOG = 47_000.0, 34_000.0


def calls_per_day(callers: int, cadence: float) -> float:
    """Analytics calls a day from ``callers`` fetching every ``cadence`` s (0: every page load)."""
    if cadence > 0:
        return callers * DAY / cadence
    return min(
        callers * BACK_TO_BACK_PER_DAY, PAGE_LOAD_BASE + PAGE_LOAD_PER_LOG * math.log(callers)
    )


def estimated_seconds(topology: Topology, plan: MapPlan) -> float:
    """Wall seconds for ``plan``'s cells on ``plan.workers`` cores, roughly, on the engine the
    cells will run on."""
    per_call = SECONDS_PER_CALL[engine_name()]
    days = plan.horizon / DAY
    total = 0.0
    for design, publishers, cadence in plan.cells:
        as_run = topology.evolve(analytics=topology.analytics.evolve(report_refresh=cadence))
        applied = design.applied(as_run, LIFETIME)
        every = report_cadence(applied)
        callers = 1 if applied.analytics.one_report else publishers
        calls = calls_per_day(callers, every) * days
        total += SECONDS_PER_CELL + calls * per_call
    return total / max(1, min(plan.workers, len(plan.cells)))
