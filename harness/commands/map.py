"""``harness map``: every design x size x cadence in virtual time, and its report."""

from __future__ import annotations

import argparse

from core.cli import fail
from core.durations import format_duration
from core.topology import Topology
from harness.cli import PROG
from harness.map.cells import MapPlan
from harness.map.command import measure, terminal_text, write_map_report
from harness.map.estimate import estimated_seconds


def map_command(args: argparse.Namespace, topology: Topology) -> int:
    plan = MapPlan(
        designs=tuple(args.designs),
        sizes=tuple(sorted(set(args.publishers))),
        cadences=tuple(sorted(set(args.refresh))),
        horizon=args.horizon,
        max_seconds=args.max_seconds,
    )
    if args.horizon < 86_400:
        fail(
            PROG, f"--horizon: at least 1d (the standard faults span a day), got {args.horizon:g} s"
        )
    estimate = estimated_seconds(topology, plan)
    print(
        f"map: {len(plan.cells)} cells ({len(plan.designs)} designs x {len(plan.sizes)} sizes x "
        f"{len(plan.cadences)} cadences), two at a time, about {format_duration(round(estimate))}",
        flush=True,
    )
    if plan.max_seconds is not None and estimate > plan.max_seconds:
        print(
            f"map: that is more than --max-seconds {plan.max_seconds:g}: cells not started by "
            "then are reported as not run (a larger --max-seconds draws them all)",
            flush=True,
        )
    found = measure(topology, plan, args.max_age)
    page = write_map_report(found, args.out)
    print()
    print(terminal_text(found))
    print(f"report: {page}")
    return 0
