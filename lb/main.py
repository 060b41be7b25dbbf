"""Run the load balancer from topology.yaml: the data path on ``lb.port``, the admin
application on a private loopback port behind it, both on one uvloop event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import uvloop
from aiohttp import web

from core.logs import configure_logging
from core.service import BACKLOG, PortInUseError
from core.topology import Topology, TopologyError
from lb.app import create_admin_app, create_balancer
from lb.cookies import load_cookie_key
from lb.frontend import ClientConnection
from lb.proxy import Proxy
from lb.state import Balancer

logger = logging.getLogger(__name__)


def run(topology: Topology, environ: Mapping[str, str], log_level: str) -> None:
    """Serve the balancer until SIGTERM; CookieKeyError or TopologyError for bad set-up."""
    config = topology.lb
    if config is None:
        raise TopologyError("lb: the topology has no lb section")
    key = load_cookie_key(
        config.sticky.key_env, Path(topology.token.state_dir) / "lb-cookie.key", environ
    )
    configure_logging("lb", log_level)
    uvloop.run(serve_balancer(create_balancer(topology, key), host=config.host, port=config.port))


async def serve_balancer(balancer: Balancer, *, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; PortInUseError if ``port`` is taken."""
    async with balancer_listening(balancer, host=host, port=port):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        logger.info("lb listening on http://%s:%d", host, port)
        await stop.wait()
        logger.info("lb stopping")


@contextlib.asynccontextmanager
async def balancer_listening(balancer: Balancer, *, host: str, port: int) -> AsyncIterator[int]:
    """The balancer accepting connections on ``host:port`` (0: any free port, yielded)."""
    admin = web.AppRunner(create_admin_app(balancer), access_log=None, handle_signals=False)
    await admin.setup()
    try:
        admin_socket = socket.socket()
        admin_socket.bind(("127.0.0.1", 0))  # private: only the data path talks to it
        admin_port = admin_socket.getsockname()[1]
        await web.SockSite(admin, admin_socket).start()
        proxy = Proxy(balancer, admin=("127.0.0.1", admin_port))
        connections: set[ClientConnection] = set()
        try:
            server = await asyncio.get_running_loop().create_server(
                lambda: ClientConnection(proxy.handle, connections),
                host,
                port,
                reuse_address=True,
                backlog=BACKLOG,
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"{host}:{port} is already in use by another process"
                ) from None
            raise
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            for connection in list(connections):
                connection.close()
            proxy.close()
    finally:
        await admin.cleanup()
