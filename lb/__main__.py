"""``python -m lb [--topology PATH]``: run the sticky-session load balancer."""

from __future__ import annotations

import os

from core.cli import service_main
from core.service import PortInUseError
from core.topology import TopologyError
from lb.cookies import CookieKeyError
from lb.main import run


def main() -> None:
    service_main(
        "python -m lb",
        "Run the sticky-session load balancer in front of the dispatchers.",
        lambda args, topology: run(topology, os.environ, args.log_level),
        errors=(TopologyError, CookieKeyError, PortInUseError),
    )


if __name__ == "__main__":
    main()
