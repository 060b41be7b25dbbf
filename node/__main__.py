"""``python -m node --id p1 [--topology PATH]``: run one publisher node."""

from __future__ import annotations

import argparse
import os

from core.cli import service_main
from node.errors import NodeStartupError
from node.main import run


def _id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, help="publisher id from topology.yaml, e.g. p1")


def main() -> None:
    service_main(
        "python -m node",
        "Run one publisher node of the tokensim estate.",
        lambda args, topology: run(topology, args.id, os.environ, args.log_level),
        errors=(NodeStartupError,),
        add_arguments=_id,
    )


if __name__ == "__main__":
    main()
