"""Run the load balancer from topology.yaml."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from core.logs import configure_logging
from core.service import serve
from core.topology import Topology, TopologyError
from lb.app import create_app
from lb.cookies import load_cookie_key


def run(topology: Topology, environ: Mapping[str, str], log_level: str) -> None:
    """Serve the balancer until SIGTERM; CookieKeyError or TopologyError for bad set-up."""
    config = topology.lb
    if config is None:
        raise TopologyError("lb: the topology has no lb section")
    key = load_cookie_key(
        config.sticky.key_env, Path(topology.token.state_dir) / "lb-cookie.key", environ
    )
    configure_logging("lb", log_level)
    asyncio.run(serve(create_app(topology, key), host=config.host, port=config.port, name="lb"))
