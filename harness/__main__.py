"""``python -m harness up|demo``: run the estate, or the demo of one node's token lifecycle."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from core.cli import base_parser, fail, load_or_exit
from core.durations import parse_duration
from core.topology import Topology
from harness.compare import compare
from harness.demo import demo
from harness.designs import STRATEGIES, DesignError, parse_designs
from harness.estate import NotOurEstate
from harness.hosts import HostsUnavailable
from harness.load import LoadOptions, run_scenario
from harness.processes import StartupError
from harness.report import table
from harness.scenarios import SCENARIOS
from harness.up import up
from harness.virtual_compare import compare_virtual
from harness.virtual_run import VirtualSettings

PROG = "python -m harness"


def add_estate_options(command: argparse.ArgumentParser) -> None:
    """How the estate runs: ``--lb`` (its balancer's engine) and ``--hosts``."""
    command.add_argument(
        "--lb", choices=["builtin", "haproxy"], help="the load balancer's engine (lb.engine)"
    )
    command.add_argument(
        "--hosts",
        action="store_true",
        help="each publisher and its dispatcher on a host (network namespace) of its own; "
        "needs root; the partition scenario needs it",
    )


def main() -> None:
    parser = base_parser(PROG, "Run the tokensim estate.")
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start every service and wait for Ctrl-C")
    up_cmd.add_argument("--only", help="comma-separated service ids, e.g. ims,analytics,p1")
    add_estate_options(up_cmd)
    demo_cmd = commands.add_parser("demo", help="show a node across several token lifetimes")
    demo_cmd.add_argument("--lifetimes", type=float, default=3.0)
    demo_cmd.add_argument("--node", default="p1")
    load_cmd = commands.add_parser("load", help="run Locust scenarios and judge invariants")
    which = load_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--scenario", choices=sorted(SCENARIOS))
    which.add_argument("--all", action="store_true", help="every scenario, one after another")
    load_cmd.add_argument("--users", type=int, default=30)
    load_cmd.add_argument("--lifetime", type=int, default=20, help="token lifetime, seconds")
    load_cmd.add_argument("--duration", type=float, help="run length, seconds (sets --lifetime)")
    load_cmd.add_argument("--out", type=Path, default=Path("reports"))
    load_cmd.add_argument("--free-ports", action="store_true", help="ignore topology ports")
    load_cmd.add_argument("--strategy", choices=list(STRATEGIES), help="override token.strategy")
    add_estate_options(load_cmd)
    load_cmd.add_argument(
        "--running",
        action="store_true",
        help="use the estate already running (python -m harness up) instead of a fresh one",
    )
    compare_cmd = commands.add_parser("compare", help="the same scenarios for each strategy")
    compare_cmd.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help="comma-separated; scheduled@N runs every N lifetimes, replicated@P loses pushes "
        "with probability P",
    )
    compare_cmd.add_argument("--sticky", default="on", help="on, off, or on,off")
    compare_cmd.add_argument("--scenarios", default="steady,expiry-storm,ims-outage")
    compare_cmd.add_argument("--users", type=int, default=20)
    compare_cmd.add_argument("--lifetime", type=int, default=10, help="token lifetime, seconds")
    compare_cmd.add_argument("--out", type=Path, default=Path("reports"))
    compare_cmd.add_argument("--free-ports", action="store_true", help="ignore topology ports")
    compare_cmd.add_argument(
        "--virtual",
        metavar="DURATION",
        help="simulate DURATION (e.g. 7d) in virtual time with the real 24 h lifetime, instead "
        "of running Locust against processes",
    )
    args = parser.parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        if args.command == "up":
            only = set(args.only.split(",")) if args.only else None
            status = asyncio.run(
                up(topology, args.topology, only, lb_engine=args.lb, on_hosts=args.hosts)
            )
        elif args.command == "load":
            status = asyncio.run(load_command(args))
        elif args.command == "compare" and args.virtual:
            status = virtual_command(args, topology)
        elif args.command == "compare":
            status = asyncio.run(compare_command(args))
        else:
            status = asyncio.run(
                demo(topology, args.topology, lifetimes=args.lifetimes, node_id=args.node)
            )
    except (StartupError, NotOurEstate, HostsUnavailable) as exc:
        fail(PROG, str(exc), status=1)
    raise SystemExit(status)


async def load_command(args: argparse.Namespace) -> int:
    names = (
        [n for n in sorted(SCENARIOS) if args.hosts or not SCENARIOS[n].needs_hosts]
        if args.all
        else [args.scenario]
    )
    verdicts = []
    for name in names:
        scenario = SCENARIOS[name]
        lifetime = round(args.duration / scenario.lifetimes) if args.duration else args.lifetime
        options = LoadOptions(
            users=args.users,
            lifetime=max(2, lifetime),
            out=args.out,
            free_ports=args.free_ports,
            strategy=args.strategy,
            running=args.running,
            lb_engine=args.lb,
            hosts=args.hosts,
        )
        print(
            f"{name}: {scenario.summary} ({scenario.lifetimes:g} lifetimes of {options.lifetime}s, "
            f"{options.users} users)",
            flush=True,
        )
        verdict = await run_scenario(args.topology, scenario, options)
        print(verdict.text() + "\n", flush=True)
        verdicts.append(verdict)
    failed = [v.scenario for v in verdicts if not v.passed]
    print(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} scenarios passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


async def compare_command(args: argparse.Namespace) -> int:
    try:
        designs = parse_designs(args.strategies)
    except DesignError as exc:
        fail(PROG, f"--strategies: {exc}")
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        fail(PROG, f"--scenarios: unknown scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    sticky = [mode.strip() == "on" for mode in args.sticky.split(",")]
    options = LoadOptions(
        users=args.users, lifetime=max(2, args.lifetime), out=args.out, free_ports=args.free_ports
    )
    folder, rows, _ = await compare(
        args.topology,
        designs=designs,
        sticky_modes=sticky,
        scenarios=scenarios,
        options=options,
    )
    print()
    print(table(rows))
    print(f"report: {folder / 'report.html'}")
    return 0


def virtual_command(args: argparse.Namespace, topology: Topology) -> int:
    try:
        designs = parse_designs(args.strategies)
        horizon = parse_duration(args.virtual)
    except DesignError as exc:
        fail(PROG, f"--strategies: {exc}")
    except ValueError as exc:
        fail(PROG, f"--virtual: {exc}")
    if horizon < 3600:
        fail(PROG, f"--virtual: at least 1h, got {args.virtual!r}")
    folder, rows, _ = compare_virtual(topology, designs, VirtualSettings(horizon=horizon), args.out)
    print()
    print(table(rows))
    print(f"report: {folder / 'report.html'}")
    return 0


if __name__ == "__main__":
    main()
