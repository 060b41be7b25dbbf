"""``python -m upstream.analytics [--topology PATH]``: run the simulated Adobe Analytics."""

from __future__ import annotations

from core.cli import base_parser, fail, load_or_exit
from core.service import PortInUseError
from upstream.analytics.main import run

PROG = "python -m upstream.analytics"


def main() -> None:
    args = base_parser(PROG, "Run the simulated Adobe Analytics 2.0 Reports API.").parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        run(topology, args.log_level)
    except PortInUseError as exc:
        fail(PROG, str(exc))


if __name__ == "__main__":
    main()
