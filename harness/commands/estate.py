"""``harness up`` and ``harness lifecycle``: the estate as processes."""

from __future__ import annotations

import argparse
import asyncio

from core.topology import Topology
from harness.estate.lifecycle import lifecycle
from harness.estate.up import up


def up_command(args: argparse.Namespace, topology: Topology) -> int:
    only = set(args.only.split(",")) if args.only else None
    return asyncio.run(
        up(
            topology,
            args.topology,
            only,
            lb_engine=args.lb,
            on_hosts=args.hosts,
            log_level=args.log_level,
            restart=args.restart,
        )
    )


def lifecycle_command(args: argparse.Namespace, topology: Topology) -> int:
    return asyncio.run(
        lifecycle(
            topology,
            args.topology,
            lifetimes=args.lifetimes,
            node_id=args.node,
            log_level=args.log_level,
        )
    )
