"""The virtual world's cost: seconds of wall time per node-day simulated, at 3, 12 and 48
publishers (per-node tokens and reports, a 5 s report cache, a quiet day), against the 3-node
run of the same run: linear or better means the ratio stays near 1 as N grows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.figures import Figure
from core.topology import load_topology
from harness.designs import Design
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings

ROOT = Path(__file__).resolve().parent.parent
SIZES = (3, 12, 48)
DAYS = 1.0


def run() -> tuple[list[Figure], dict[str, Any]]:
    base = load_topology(ROOT / "topology.yaml")
    per_node_day: dict[int, float] = {}
    for n in SIZES:
        settings = VirtualSettings(horizon=DAYS * 86_400, publishers=n, scenario="steady")
        result = simulate(Design.parse("per-node"), settings, base)
        per_node_day[n] = result.wall_seconds / (n * DAYS)
    baseline = per_node_day[SIZES[0]]
    figures = [
        Figure(
            "virtual",
            f"{n} publishers, 1 day of per-node: wall time per node-day",
            per_node_day[n] * 1000,
            "ms",
            f"{SIZES[0]} publishers",
            baseline * 1000,
            target="<= 2x (linear or better)" if n != SIZES[0] else "",
            met=None if n == SIZES[0] else per_node_day[n] <= 2 * baseline,
        )
        for n in SIZES
    ]
    return figures, {"seconds_per_node_day": per_node_day}
