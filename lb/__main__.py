"""``python -m lb [--topology PATH]``: run the sticky-session load balancer."""

from __future__ import annotations

import os

from core.cli import base_parser, fail, load_or_exit
from core.service import PortInUseError
from core.topology import TopologyError
from lb.cookies import CookieKeyError
from lb.main import run

PROG = "python -m lb"


def main() -> None:
    args = base_parser(
        PROG, "Run the sticky-session load balancer in front of the dispatchers."
    ).parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        run(topology, os.environ, args.log_level)
    except (TopologyError, CookieKeyError, PortInUseError) as exc:
        fail(PROG, str(exc))


if __name__ == "__main__":
    main()
