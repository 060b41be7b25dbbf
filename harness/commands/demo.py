"""``harness demo``: the runs that answer the thread, and their report."""

from __future__ import annotations

import argparse
import asyncio

from core.topology import Topology
from harness.demo import DemoPlan, demo


def demo_command(args: argparse.Namespace, topology: Topology) -> int:
    plan = DemoPlan.quick() if args.quick else DemoPlan()
    asyncio.run(demo(topology, plan, args.out, args.log_level))
    return 0
