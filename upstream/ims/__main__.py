"""``python -m upstream.ims [--topology PATH]``: run the simulated Adobe IMS."""

from __future__ import annotations

import os

from core.cli import base_parser, fail, load_or_exit
from core.secrets import MissingSecretError
from core.service import PortInUseError
from upstream.ims.main import run

PROG = "python -m upstream.ims"


def main() -> None:
    args = base_parser(PROG, "Run the simulated Adobe IMS token endpoint.").parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        run(topology, os.environ, args.log_level)
    except (MissingSecretError, PortInUseError) as exc:
        fail(PROG, str(exc))


if __name__ == "__main__":
    main()
