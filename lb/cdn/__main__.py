"""``python -m lb.cdn [--topology PATH]``: run the CDN (Varnish) of topology.yaml's cdn."""

from __future__ import annotations

from core.cli import service_main
from lb.cdn.main import run
from lb.errors import EngineError


def main() -> None:
    service_main(
        "python -m lb.cdn",
        "Run the CDN in front of the balancer (Varnish, configured from topology.yaml).",
        lambda args, topology: run(topology),
        errors=(EngineError,),
    )


if __name__ == "__main__":
    main()
