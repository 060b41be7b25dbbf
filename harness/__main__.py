"""``python -m harness up|demo|lifecycle|load|compare|map``: parse the command line, load
topology.yaml, set up logging, and dispatch to :mod:`harness.commands`. Start-up failures are
one line and exit 1; a broken topology.yaml is one line and exit 2."""

from __future__ import annotations

import sys

from core.cli import fail, load_or_exit
from core.logs import configure_logging
from harness.cli import PROG, build_parser, negative_values_joined
from harness.commands import command
from harness.errors import HostsUnavailable, NotOurEstate, StartupError


def main() -> None:
    args = build_parser().parse_args(negative_values_joined(sys.argv[1:]))
    configure_logging("harness", args.log_level)
    topology = load_or_exit(PROG, args.topology)
    try:
        status = command(args.command)(args, topology)
    except (StartupError, NotOurEstate, HostsUnavailable) as exc:
        fail(PROG, str(exc), status=1)
    raise SystemExit(status)


if __name__ == "__main__":
    main()
