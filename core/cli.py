"""What every service's ``__main__`` shares: ``--topology``, ``--log-level``, clean exits.

A broken topology.yaml or a missing secret ends the program with one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from core.topology import DEFAULT_PATH, Topology, TopologyError, load_topology

EXIT_CONFIG = 2


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--topology",
        type=Path,
        default=DEFAULT_PATH,
        metavar="PATH",
        help="topology file (default: ./topology.yaml)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default: INFO)",
    )
    return parser


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
