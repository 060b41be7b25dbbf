"""``python -m upstream.ims [--topology PATH]``: run the simulated Adobe IMS."""

from __future__ import annotations

import os

from core.cli import service_main
from core.errors import MissingSecretError, PortInUseError
from upstream.ims.main import run


def main() -> None:
    service_main(
        "python -m upstream.ims",
        "Run the simulated Adobe IMS token endpoint.",
        lambda args, topology: run(topology, os.environ, args.log_level),
        errors=(MissingSecretError, PortInUseError),
    )


if __name__ == "__main__":
    main()
