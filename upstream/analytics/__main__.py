"""``python -m upstream.analytics [--topology PATH]``: run the simulated Adobe Analytics."""

from __future__ import annotations

from core.cli import service_main
from core.errors import PortInUseError
from upstream.analytics.main import run


def main() -> None:
    service_main(
        "python -m upstream.analytics",
        "Run the simulated Adobe Analytics 2.0 Reports API.",
        lambda args, topology: run(topology, args.log_level),
        errors=(PortInUseError,),
    )


if __name__ == "__main__":
    main()
