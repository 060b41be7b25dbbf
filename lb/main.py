"""Run the load balancer from topology.yaml: the data path on ``lb.port``, the control plane
(status, metrics, register/deregister) on ``lb.admin`` (loopback by default), both on one
uvloop event loop. The public port answers only ``GET /lb/health`` and the estate."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import uvloop
from aiohttp import web
from tokensim_token.files import make_private_folder, write_atomic

from core.errors import PortInUseError
from core.logs import configure_logging
from core.service import BACKLOG, port_in_use_named
from core.topology import Topology, TopologyError
from lb.app import create_admin_app, create_balancer
from lb.cookies import load_cookie_key
from lb.errors import EngineError
from lb.frontend import Edge
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
    uvloop.run(serve_balancer(create_balancer(topology, key)))


def emit_haproxy(topology: Topology) -> str:
    """The HAProxy configuration equivalent to the built-in balancer for ``topology``."""
    config = topology.lb
    if config is None:
        raise TopologyError("lb: the topology has no lb section")
    return render(config, backends_of(topology))


# Debian installs daemons in sbin, which is not on an ordinary user's PATH.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find_haproxy() -> str | None:
    """The haproxy binary: on PATH, else in the sbin folders where Debian puts it."""
    return shutil.which("haproxy") or shutil.which("haproxy", path=os.pathsep.join(SBIN))


def _exec_haproxy(topology: Topology) -> NoReturn:
    binary = find_haproxy()
    if binary is None:
        raise EngineError("lb.engine: haproxy is not installed (apt-get install haproxy)")
    folder = Path(topology.token.state_dir)
    make_private_folder(folder)  # the state folder: keys and tokens go there too
    path = folder / "haproxy.cfg"
    write_atomic(path, emit_haproxy(topology).encode())
    checked = subprocess.run(  # noqa: S603 (our binary, our file)
        [binary, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False
    )
    if checked.returncode != 0:
        raise EngineError(f"haproxy refused {path}: {checked.stdout.strip()}")
    print(f"lb: running haproxy with {path}", flush=True)
    os.execv(binary, [binary, "-db", "-f", str(path)])  # noqa: S606 (our binary)


async def serve_balancer(balancer: Balancer) -> None:
    """Serve until SIGTERM or SIGINT; PortInUseError if a port is taken."""
    config = balancer.config
    async with balancer_listening(balancer) as listening:
        port, admin_port = listening.port, listening.admin_port
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        logger.info("lb listening on http://%s:%d", config.host, port)
        logger.info("lb control plane on http://%s:%d/lb/status", config.admin.host, admin_port)
        await stop.wait()
        logger.info("lb stopping")


@dataclass(frozen=True, slots=True)
class Listening:
    """A balancer serving: its ports, and its client side (for tests that look inside)."""

    port: int
    admin_port: int
    edge: Edge


@contextlib.asynccontextmanager
async def balancer_listening(
    balancer: Balancer, *, port: int | None = None, admin_port: int | None = None
) -> AsyncIterator[Listening]:
    """The balancer accepting connections on its port and its control plane on the admin
    listener; the ports given here (0: any free port) replace topology.yaml's."""
    config = balancer.config
    admin = web.AppRunner(create_admin_app(balancer), access_log=None, handle_signals=False)
    await admin.setup()
    try:
        admin_socket = _bound(
            config.admin.host,
            config.admin.port if admin_port is None else admin_port,
            "lb.admin.port",
        )
        await web.SockSite(admin, admin_socket).start()
        proxy = Proxy(balancer)
        edge = Edge(proxy.handle, config, refused=balancer.counters.refused)
        balancer.counters.connections = lambda: len(edge.connections)
        host, port = config.host, config.port if port is None else port
        with port_in_use_named(host, port):
            server = await asyncio.get_running_loop().create_server(
                edge.connection, host, port, reuse_address=True, backlog=BACKLOG
            )
        try:
            yield Listening(server.sockets[0].getsockname()[1], admin_socket.getsockname()[1], edge)
        finally:
            server.close()
            edge.close()
            proxy.close()
    finally:
        await admin.cleanup()


def _bound(host: str, port: int, name: str) -> socket.socket:
    """A socket bound to ``host:port`` for aiohttp to listen on; PortInUseError if taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"{name}: port {port} on {host} is already in use") from None
        raise
    return sock
