"""The virtual world's cost: milliseconds of wall time per node-day simulated (per-node
tokens and reports, a quiet day), at 3, 12 and 50 publishers, for the cheapest cadence (the
report every 30 minutes, Adobe's advice) and the dearest (a report on every page load: a call
per request that finds none in flight). Each size is set against 3 publishers at the same
cadence (linear or better: the ratio stays near 1 as N grows), and each page-load row against
the 30-minute row of its size (what the traffic costs). Issue 28's goal: 5 ms per node-day at
50 publishers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.figures import Figure
from core.topology import load_topology
from harness.designs import Design
from harness.map.cadences import cadence_label
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings

ROOT = Path(__file__).resolve().parent.parent
SIZES = (3, 12, 50)
CADENCES = (1800.0, 0.0)  # the report every 30 minutes; on every page load
DAYS = 1.0
GOAL_MS = 5.0  # per node-day at the largest size


def run() -> tuple[list[Figure], dict[str, Any]]:
    base = load_topology(ROOT / "topology.yaml")
    cost: dict[tuple[float, int], float] = {}  # (cadence, size) -> ms per node-day
    for cadence in CADENCES:
        for n in SIZES:
            settings = VirtualSettings(
                horizon=DAYS * 86_400, publishers=n, scenario="steady", refresh=cadence
            )
            result = simulate(Design.parse("per-node"), settings, base)
            cost[cadence, n] = result.wall_seconds / (n * DAYS) * 1000
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
    raw = {f"{cadence_label(c)}, {n} publishers": ms for (c, n), ms in cost.items()}
    return figures, {"ms_per_node_day": raw}
