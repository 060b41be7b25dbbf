"""``harness load`` and ``harness compare`` (real processes, or ``--virtual``)."""

from __future__ import annotations

import argparse
import asyncio

from core.cli import fail
from core.durations import parse_duration
from core.topology import Topology
from harness.cli import PROG
from harness.designs import Design
from harness.load.compare import compare
from harness.load.options import LoadOptions
from harness.load.run import run_scenario
from harness.load.scenarios import SCENARIOS
from harness.report.tables import terminal
from harness.virtual.compare import compare_virtual
from harness.virtual.settings import VirtualSettings
from harness.virtual.timeline import TIMELINES

REAL_SCENARIOS = "steady,expiry-storm,ims-outage"


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
