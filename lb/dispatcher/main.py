"""Run one dispatcher from topology.yaml."""

from __future__ import annotations

import asyncio

from core.logs import configure_logging
from core.service import serve
from core.topology import Topology
from lb.dispatcher.app import create_app


def run(topology: Topology, dispatcher_id: str, log_level: str) -> None:
    """Serve dispatcher ``dispatcher_id`` until SIGTERM (TopologyError for an unknown id)."""
    dispatcher = topology.dispatcher_of(dispatcher_id)
    configure_logging(dispatcher_id, log_level)
    app = create_app(topology, dispatcher_id)
    asyncio.run(serve(app, host=dispatcher.host, port=dispatcher.port, name=dispatcher_id))
