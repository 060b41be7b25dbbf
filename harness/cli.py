"""The ``python -m harness`` command line: its subcommands and their options."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.cli import base_parser, non_negative_int, positive_int, subcommand
from core.durations import parse_duration
from harness.designs import DESIGNS, Design, parse_designs
from harness.errors import DesignError
from harness.load.scenarios import SCENARIOS
from harness.map import defaults as map_defaults
from harness.map.cadences import parse_cadences

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


def add_load_options(command: argparse.ArgumentParser) -> None:
    """How the load and the shared store run: ``--workers`` and ``--store``."""
    command.add_argument(
        "--workers",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="Locust's distributed mode: a master and N worker processes (with --hosts, on the "
        "publishers' hosts); 0 (default): one process",
    )
    command.add_argument(
        "--store",
        choices=["file", "redis"],
        help="the shared token store (token.store.kind); redis: the run starts redis-server "
        "(password from TOKENSIM_REDIS_PASSWORD, else a random one)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, "Run the tokensim estate.")
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = subcommand(commands, "up", "start every service and wait for Ctrl-C")
    up_cmd.add_argument("--only", help="comma-separated service ids, e.g. ims,analytics,p1")
    up_cmd.add_argument(
        "--restart",
        action="store_true",
        help="start a service that exits again, after 1 s doubling up to 30 s (default: report "
        "it and keep the rest running)",
    )
    add_estate_options(up_cmd)
    demo_cmd = subcommand(
        commands, "demo", "the main job: the runs that answer the thread, and one report"
    )
    demo_cmd.add_argument("--out", type=Path, default=Path("reports"))
    demo_cmd.add_argument(
        "--quick", action="store_true", help="every step, smaller and shorter (about a minute)"
    )
    lifecycle_cmd = subcommand(
        commands, "lifecycle", "show one node across several token lifetimes and a restart"
    )
    lifecycle_cmd.add_argument("--lifetimes", type=float, default=3.0)
    lifecycle_cmd.add_argument("--node", default="p1")
    load_cmd = subcommand(commands, "load", "run Locust scenarios and judge invariants")
    which = load_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--scenario", choices=sorted(SCENARIOS))
    which.add_argument("--all", action="store_true", help="every scenario, one after another")
    load_cmd.add_argument("--users", type=positive_int, default=30)
    load_cmd.add_argument(
        "--lifetime", type=positive_int, default=20, help="token lifetime, seconds"
    )
    load_cmd.add_argument("--duration", type=float, help="run length, seconds (sets --lifetime)")
    load_cmd.add_argument("--out", type=Path, default=Path("reports"))
    load_cmd.add_argument("--free-ports", action="store_true", help="ignore topology ports")
    add_designs_option(load_cmd, "--strategy", default=None)
    add_estate_options(load_cmd)
    add_load_options(load_cmd)
    load_cmd.add_argument(
        "--running",
        action="store_true",
        help="use the estate already running (python -m harness up) instead of a fresh one",
    )
    map_cmd = subcommand(
        commands, "map", "every design x publishers x report cadence: where each answer flips"
    )
    map_cmd.add_argument(
        "--designs",
        type=designs,
        default=parse_designs(map_defaults.DESIGNS),
        metavar="D[,D...]",
        help=f"the designs (default {map_defaults.DESIGNS})",
    )
    map_cmd.add_argument(
        "--publishers",
        type=publisher_counts,
        default=map_defaults.SIZES,
        metavar="N[,N...]",
        help="estate sizes (default 3,10,50)",
    )
    map_cmd.add_argument(
        "--refresh",
        type=cadences,
        default=map_defaults.CADENCES,
        metavar="C[,C...]",
        help="report cadences: durations, or page (0) for a report on every page load "
        "(default page,1m,30m)",
    )
    map_cmd.add_argument(
        "--max-age",
        type=report_refresh,
        default=7200.0,
        metavar="DURATION",
        help="a report older than this at the 99th percentile is stale (default 2h)",
    )
    map_cmd.add_argument(
        "--horizon",
        type=report_refresh,
        default=map_defaults.HORIZON,
        metavar="DURATION",
        help="how long each cell runs, with the standard faults (default 7d; at least 1d)",
    )
    map_cmd.add_argument(
        "--max-seconds",
        type=positive_int,
        default=300,
        metavar="N",
        help="start no cell after N seconds; the rest are reported as not run (default 300; "
        "the map says before it starts when its estimate is longer)",
    )
    map_cmd.add_argument("--out", type=Path, default=Path("reports"))
    compare_cmd = subcommand(commands, "compare", "the same scenarios for each strategy")
    add_designs_option(compare_cmd, "--strategies", default=parse_designs(",".join(DESIGNS)))
    compare_cmd.add_argument(
        "--sticky",
        type=sticky_modes,
        default=(True,),
        metavar="on|off|on,off",
        help="the balancer's stickiness for each run (default: on)",
    )
    compare_cmd.add_argument(
        "--scenarios",
        "--scenario",
        help="comma-separated; real runs: load scenarios (default steady,expiry-storm,"
        "ims-outage); with --virtual: faults (default) or autoscale",
    )
    compare_cmd.add_argument("--users", type=positive_int, default=20)
    compare_cmd.add_argument(
        "--lifetime", type=positive_int, default=10, help="token lifetime, seconds"
    )
    compare_cmd.add_argument("--out", type=Path, default=Path("reports"))
    compare_cmd.add_argument("--free-ports", action="store_true", help="ignore topology ports")
    add_load_options(compare_cmd)
    compare_cmd.add_argument(
        "--virtual",
        metavar="DURATION",
        help="simulate DURATION (e.g. 7d) in virtual time with the real 24 h lifetime, instead "
        "of running Locust against processes",
    )
    compare_cmd.add_argument(
        "--publishers",
        type=publisher_counts,
        metavar="N[,N...]",
        help="with --virtual: the same designs at each size, e.g. 3,10,50 (default: the "
        "publishers of topology.yaml)",
    )
    compare_cmd.add_argument(
        "--refresh",
        type=report_refresh,
        metavar="DURATION",
        help="with --virtual: how often each publisher fetches its report, e.g. 30m; 0: on "
        "every page load (default: analytics.report_refresh of topology.yaml)",
    )
    compare_cmd.add_argument(
        "--no-latency",
        dest="latency",
        action="store_false",
        help="with --virtual: Analytics answers at once (default: the latency model of "
        "simulation.analytics.latency), to read what the model adds",
    )
    return parser


_NEGATIVE = re.compile(r"-[0-9.]")


def negative_values_joined(argv: Sequence[str]) -> list[str]:
    """``--refresh -1s`` as ``--refresh=-1s``, so that the option's own check names it.

    argparse reads a value that starts with a dash and is not a plain number (``-1s``,
    ``-1,3``) as an unknown option and says only "expected one argument". No option of ours
    starts with a dash and a digit, so such a word after an option is always its value.
    """
    joined: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else ""
        if (
            word.startswith("--")
            and word != "--"
            and "=" not in word
            and _NEGATIVE.match(following)
        ):
            joined.append(f"{word}={following}")
            i += 2
            continue
        joined.append(word)
        i += 1
    return joined


def cadences(text: str) -> tuple[float, ...]:
    """An argparse type: ``page,1m,30m``."""
    try:
        return parse_cadences(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def report_refresh(text: str) -> float:
    """An argparse type: a duration (``30m``) or ``0`` (every page load)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def designs(text: str) -> tuple[Design, ...]:
    """An argparse type: ``per-node,shared,scheduled@1.25`` (:mod:`harness.designs`)."""
    try:
        return parse_designs(text)
    except DesignError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _OldName(argparse.Action):
    """``--designs``, also accepted under its old name, which says so on stderr."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if option_string != "--designs":
            print(
                f"{PROG}: warning: {option_string} is an old name of --designs; it will be removed",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)


def add_designs_option(
    command: argparse.ArgumentParser, old_name: str, *, default: tuple[Design, ...] | None
) -> None:
    known = ", ".join(DESIGNS)
    command.add_argument(
        "--designs",
        old_name,
        dest="designs",
        type=designs,
        action=_OldName,
        default=default,
        metavar="D[,D...]",
        help=f"comma-separated designs ({known}); scheduled@N runs every N lifetimes, "
        "replicated@P loses pushes with probability P, +shared-report shares one report"
        + ("" if default else "; default: topology.yaml's token.strategy"),
    )


def sticky_modes(text: str) -> tuple[bool, ...]:
    """An argparse type: ``on``, ``off`` or ``on,off`` (one run each)."""
    modes = {"on": True, "off": False}
    parts = [part.strip() for part in text.split(",")]
    if not parts or any(part not in modes for part in parts) or len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"expected on, off or on,off, got {text!r}")
    return tuple(modes[part] for part in parts)


def publisher_counts(text: str) -> tuple[int, ...]:
    """``3,10,50``: sizes of the estate, each a whole number above 0."""
    sizes = tuple(positive_int(part.strip()) for part in text.split(",") if part.strip())
    if not sizes:
        raise argparse.ArgumentTypeError("expected sizes like 3,10,50")
    return sizes
