"""``python -m node --id p1 [--topology PATH]``: run one publisher node."""

from __future__ import annotations

import os

from core.cli import base_parser, fail, load_or_exit
from node.main import NodeStartupError, run

PROG = "python -m node"


def main() -> None:
    parser = base_parser(PROG, "Run one publisher node of the tokensim estate.")
    parser.add_argument("--id", required=True, help="publisher id from topology.yaml, e.g. p1")
    args = parser.parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        run(topology, args.id, os.environ, args.log_level)
    except NodeStartupError as exc:
        fail(PROG, str(exc))


if __name__ == "__main__":
    main()
