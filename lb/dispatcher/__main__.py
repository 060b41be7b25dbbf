"""``python -m lb.dispatcher --id d1 [--topology PATH]``: run one dispatcher."""

from __future__ import annotations

from core.cli import base_parser, fail, load_or_exit
from core.service import PortInUseError
from core.topology import TopologyError
from lb.dispatcher.main import run

PROG = "python -m lb.dispatcher"


def main() -> None:
    parser = base_parser(PROG, "Run one dispatcher (caching proxy) in front of its publisher.")
    parser.add_argument("--id", required=True, help="dispatcher id from topology.yaml, e.g. d1")
    args = parser.parse_args()
    topology = load_or_exit(PROG, args.topology)
    try:
        run(topology, args.id, args.log_level)
    except (TopologyError, PortInUseError) as exc:
        fail(PROG, str(exc))


if __name__ == "__main__":
    main()
