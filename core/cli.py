"""What every service's ``__main__`` shares: ``--topology``, ``--log-level``, clean exits.

``--topology`` and ``--log-level`` are accepted before or after a subcommand (``python -m
harness up --topology t.yaml`` and ``python -m harness --topology t.yaml up`` are the same),
and every ``--help`` shows them. A broken topology.yaml or a missing secret ends the program
with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from core.topology import DEFAULT_PATH, Topology, TopologyError, load_topology

EXIT_CONFIG = 2


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: ...``), exit status 2:
    what was wrong and what is accepted, without the usage block above it."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, message)


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description=description)
    add_common_options(parser)
    return parser


def add_common_options(parser: argparse.ArgumentParser, *, subcommand: bool = False) -> None:
    """``--topology`` and ``--log-level``. On a subcommand they default to nothing, so that a
    value given before the subcommand is kept when none is given after it."""
    parser.add_argument(
        "--topology",
        type=Path,
        default=argparse.SUPPRESS if subcommand else DEFAULT_PATH,
        metavar="PATH",
        help="topology file (default: ./topology.yaml)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        default=argparse.SUPPRESS if subcommand else "INFO",
        choices=LOG_LEVELS,
        help="log level of this program and every service it starts (default: INFO)",
    )


def subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand that also takes the common options after its name."""
    command = commands.add_parser(name, help=help_text, description=help_text)
    add_common_options(command, subcommand=True)
    return command


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0 (``--users 0`` says so, naming the option)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fail(prog: str, message: str, *, status: int = EXIT_CONFIG) -> NoReturn:
    """Print ``prog: error: message`` on stderr and exit with ``status``."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def load_or_exit(prog: str, path: Path) -> Topology:
    try:
        return load_topology(path)
    except TopologyError as exc:
        fail(prog, str(exc))


def service_main(
    prog: str,
    description: str,
    run: Callable[[argparse.Namespace, Topology], None],
    *,
    errors: tuple[type[Exception], ...],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """The whole ``__main__`` of a service: parse the arguments, load topology.yaml, run, and
    turn the start-up errors named in ``errors`` into one line on stderr and exit status 2."""
    parser = base_parser(prog, description)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    topology = load_or_exit(prog, args.topology)
    try:
        run(args, topology)
    except errors as exc:
        fail(prog, str(exc))
