"""What each ``python -m harness`` command does, given its parsed arguments and the topology
``__main__`` loaded once; the parser is in :mod:`harness.cli`. Every option arrives here
already in its final type (designs, stickiness, sizes): nothing below parses text again."""

from __future__ import annotations

import argparse
import asyncio

from core.cli import fail
from core.durations import parse_duration
from core.topology import Topology
from harness.demo import DemoPlan, demo
from harness.designs import Design
from harness.estate.lifecycle import lifecycle
from harness.estate.up import up
from harness.load.compare import compare
from harness.load.options import LoadOptions
from harness.load.run import run_scenario
from harness.load.scenarios import SCENARIOS
from harness.map.cells import MapPlan
from harness.map.command import measure, terminal_text, write_map_report
from harness.report.tables import terminal
from harness.virtual.compare import compare_virtual
from harness.virtual.settings import VirtualSettings
from harness.virtual.timeline import TIMELINES

PROG = "python -m harness"
REAL_SCENARIOS = "steady,expiry-storm,ims-outage"


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


def demo_command(args: argparse.Namespace, topology: Topology) -> int:
    plan = DemoPlan.quick() if args.quick else DemoPlan()
    asyncio.run(demo(topology, plan, args.out, args.log_level))
    return 0


def compare_any(args: argparse.Namespace, topology: Topology) -> int:
    if args.virtual:
        return virtual_command(args, topology)
    if args.refresh is not None:
        fail(PROG, "--refresh: only with --virtual (real runs scale the cadence to --lifetime)")
    if not args.latency:
        fail(PROG, "--no-latency: only with --virtual (real runs use simulation.analytics.latency)")
    return asyncio.run(compare_command(args, topology))


def load_any(args: argparse.Namespace, topology: Topology) -> int:
    return asyncio.run(load_command(args, topology))


async def load_command(args: argparse.Namespace, topology: Topology) -> int:
    names = (
        [n for n in sorted(SCENARIOS) if args.hosts or not SCENARIOS[n].needs_hosts]
        if args.all
        else [args.scenario]
    )
    designs: tuple[Design, ...] = args.designs or (Design.of(topology),)
    verdicts = []
    for name in names:
        scenario = SCENARIOS[name]
        lifetime = round(args.duration / scenario.lifetimes) if args.duration else args.lifetime
        for design in designs:
            options = LoadOptions(
                design=design,
                users=args.users,
                lifetime=max(2, lifetime),
                out=args.out,
                free_ports=args.free_ports,
                running=args.running,
                lb_engine=args.lb,
                hosts=args.hosts,
                log_level=args.log_level,
                workers=args.workers,
                store=args.store,
            )
            print(
                f"{name}, {design.label}: {scenario.summary} ({scenario.lifetimes:g} lifetimes "
                f"of {options.lifetime}s, {options.users} users)",
                flush=True,
            )
            verdict = await run_scenario(topology, scenario, options)
            print(verdict.text() + "\n", flush=True)
            verdicts.append(verdict)
    failed = [f"{v.scenario} ({v.data.strategy})" for v in verdicts if not v.all_held]
    print(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} runs passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


async def compare_command(args: argparse.Namespace, topology: Topology) -> int:
    scenarios = [s for s in (args.scenarios or REAL_SCENARIOS).split(",") if s]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        fail(PROG, f"--scenarios: unknown scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    options = LoadOptions(
        design=Design.of(topology),  # each run takes one of args.designs
        users=args.users,
        lifetime=max(2, args.lifetime),
        out=args.out,
        free_ports=args.free_ports,
        log_level=args.log_level,
        workers=args.workers,
        store=args.store,
    )
    folder, runs = await compare(
        topology,
        designs=args.designs,
        sticky_modes=args.sticky,
        scenarios=scenarios,
        options=options,
    )
    print()
    print(terminal([r.row for r in runs]))
    print(f"report: {folder / 'report.html'}")
    return 0


def virtual_command(args: argparse.Namespace, topology: Topology) -> int:
    try:
        horizon = parse_duration(args.virtual)
    except ValueError as exc:
        fail(PROG, f"--virtual: {exc}")
    if horizon < 3600:
        fail(PROG, f"--virtual: at least 1h, got {args.virtual!r}")
    timelines = [s for s in (args.scenarios or "faults").split(",") if s]
    unknown = [s for s in timelines if s not in TIMELINES]
    if unknown:
        fail(
            PROG,
            f"--scenarios: {unknown[0]!r} is not a virtual scenario (known: faults, autoscale)",
        )
    sizes: tuple[int, ...] = args.publishers or (len(topology.publishers),)
    for scenario in timelines:
        settings = VirtualSettings(
            horizon=horizon, scenario=scenario, refresh=args.refresh, latency=args.latency
        )
        folder, runs = compare_virtual(topology, args.designs, settings, args.out, sizes=sizes)
        print()
        print(terminal([r.row for r in runs]))
        print(f"report: {folder / 'report.html'}")
    return 0


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
    print(
        f"map: {len(plan.cells)} cells ({len(plan.designs)} designs x {len(plan.sizes)} sizes x "
        f"{len(plan.cadences)} cadences), two at a time",
        flush=True,
    )
    found = measure(topology, plan, args.max_age)
    page = write_map_report(found, args.out)
    print()
    print(terminal_text(found))
    print(f"report: {page}")
    return 0
