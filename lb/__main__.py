"""``python -m lb [--topology PATH] [--engine builtin|haproxy] [--emit haproxy]``: run the
sticky-session load balancer, or print its HAProxy equivalent."""

from __future__ import annotations

import argparse
import os

from core.cli import service_main
from core.errors import PortInUseError
from core.topology import TopologyError
from lb.errors import CookieKeyError, EngineError
from lb.main import emit_haproxy, run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=["builtin", "haproxy"],
        help="override lb.engine of topology.yaml",
    )
    parser.add_argument(
        "--emit",
        choices=["haproxy"],
        help="print the equivalent HAProxy configuration and exit",
    )


def main() -> None:
    service_main(
        "python -m lb",
        "Run the sticky-session load balancer in front of the dispatchers.",
        lambda args, topology: (
            print(emit_haproxy(topology), end="")
            if args.emit
            else run(topology, os.environ, args.log_level, engine=args.engine)
        ),
        errors=(TopologyError, CookieKeyError, PortInUseError, EngineError),
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    main()
