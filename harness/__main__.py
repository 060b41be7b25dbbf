"""``python -m harness up|demo``: run the estate, or the demo of one node's token lifecycle."""

from __future__ import annotations

import asyncio

from core.cli import base_parser, fail, load_or_exit
from harness.demo import demo
from harness.processes import StartupError
from harness.up import up

PROG = "python -m harness"


def main() -> None:
    parser = base_parser(PROG, "Run the tokensim estate.")
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start every service and wait for Ctrl-C")
    up_cmd.add_argument("--only", help="comma-separated service ids, e.g. ims,analytics,p1")
    demo_cmd = commands.add_parser("demo", help="show a node across several token lifetimes")
    demo_cmd.add_argument("--lifetimes", type=float, default=3.0)
    demo_cmd.add_argument("--node", default="p1")
    args = parser.parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        if args.command == "up":
            only = set(args.only.split(",")) if args.only else None
            status = asyncio.run(up(topology, args.topology, only))
        else:
            status = asyncio.run(
                demo(topology, args.topology, lifetimes=args.lifetimes, node_id=args.node)
            )
    except StartupError as exc:
        fail(PROG, str(exc), status=1)
    raise SystemExit(status)


if __name__ == "__main__":
    main()
