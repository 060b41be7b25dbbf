"""``python -m author [--topology PATH]``: run the author of the author-report design."""

from __future__ import annotations

import os

from author.main import AuthorStartupError, run
from core.cli import service_main


def main() -> None:
    service_main(
        "python -m author",
        "Run the author: it fetches the report and publishes it to every publisher.",
        lambda args, topology: run(topology, os.environ, args.log_level),
        errors=(AuthorStartupError,),
    )


if __name__ == "__main__":
    main()
