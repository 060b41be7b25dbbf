"""Run the load balancer from topology.yaml: the data path on ``lb.port``, the admin
application on a private loopback port behind it, both on one uvloop event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import NoReturn

import uvloop
from aiohttp import web

from core.files import write_atomic
from core.logs import configure_logging
from core.service import BACKLOG, port_in_use_named
from core.topology import Topology, TopologyError
from lb.app import create_admin_app, create_balancer
from lb.cookies import load_cookie_key
from lb.frontend import ClientConnection
from lb.haproxy_config import render
from lb.proxy import Proxy
from lb.state import Balancer
from lb.targets import backends_of

logger = logging.getLogger(__name__)


def run(
    topology: Topology, environ: Mapping[str, str], log_level: str, *, engine: str | None = None
) -> None:
    """Serve the balancer until SIGTERM; CookieKeyError, TopologyError or EngineError for bad
    set-up. With the ``haproxy`` engine this process becomes ``haproxy`` (exec), so that the
    launcher supervises and stops it as any other service."""
    config = topology.lb
    if config is None:
        raise TopologyError("lb: the topology has no lb section")
    if (engine or config.engine) == "haproxy":
        _exec_haproxy(topology)
    key = load_cookie_key(
        config.sticky.key_env, Path(topology.token.state_dir) / "lb-cookie.key", environ
    )
    configure_logging("lb", log_level)
    uvloop.run(serve_balancer(create_balancer(topology, key), host=config.host, port=config.port))


class EngineError(Exception):
    """The haproxy engine was asked for but haproxy is not installed."""


def emit_haproxy(topology: Topology) -> str:
    """The HAProxy configuration equivalent to the built-in balancer for ``topology``."""
    config = topology.lb
    if config is None:
        raise TopologyError("lb: the topology has no lb section")
    return render(config, backends_of(topology))


def _exec_haproxy(topology: Topology) -> NoReturn:
    binary = shutil.which("haproxy")
    if binary is None:
        raise EngineError("lb.engine: haproxy is not installed (apt-get install haproxy)")
    folder = Path(topology.token.state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "haproxy.cfg"
    write_atomic(path, emit_haproxy(topology).encode())
    checked = subprocess.run(  # noqa: S603 (our binary, our file)
        [binary, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False
    )
    if checked.returncode != 0:
        raise EngineError(f"haproxy refused {path}: {checked.stdout.strip()}")
    print(f"lb: running haproxy with {path}", flush=True)
    os.execv(binary, [binary, "-db", "-f", str(path)])  # noqa: S606 (our binary)


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
        with port_in_use_named(host, port):
            server = await asyncio.get_running_loop().create_server(
                lambda: ClientConnection(proxy.handle, connections),
                host,
                port,
                reuse_address=True,
                backlog=BACKLOG,
            )
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            for connection in list(connections):
                connection.close()
            proxy.close()
    finally:
        await admin.cleanup()
