"""``python -m lb.dispatcher --id d1 [--topology PATH]``: run one dispatcher."""

from __future__ import annotations

import argparse

from core.cli import service_main
from core.errors import PortInUseError
from core.topology import TopologyError
from lb.dispatcher.main import run


def _id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, help="dispatcher id from topology.yaml, e.g. d1")


def main() -> None:
    service_main(
        "python -m lb.dispatcher",
        "Run one dispatcher (caching proxy) in front of its publisher.",
        lambda args, topology: run(topology, args.id, args.log_level),
        errors=(TopologyError, PortInUseError),
        add_arguments=_id,
    )


if __name__ == "__main__":
    main()
