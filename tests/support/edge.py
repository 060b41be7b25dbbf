"""The edge as it runs, in this process: echo publishers behind real dispatchers, behind the
built-in balancer (and, for the differential tests, HAProxy with the equivalent configuration).

The publishers are stand-ins that answer every request with its own path and method, so a test
can tell which request a response belongs to (a per-request marker in the path). Requests with
``slow`` in their path are answered after ``SLOW`` seconds; those under ``/static/cached`` may
be cached by the dispatcher. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from core.service import HEAD_LIMITS, HOP_MARGIN, HeadLimits
from core.topology import Topology
from harness.estate.processes import free_ports
from lb.app import create_balancer
from lb.dispatcher.app import create_app as create_dispatcher
from lb.frontend import ClientConnection, Edge
from lb.haproxy_config import render
from lb.main import balancer_listening, find_haproxy
from lb.state import Balancer
from lb.targets import backends_of
from tests.support.world import serve, topology_dict

SLOW = 0.3
COOKIE_KEY = bytes(range(32))


@dataclass
class EchoPublisher:
    """Answers with what it was asked; remembers every request it saw."""

    name: str
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        # a publisher's limits: two hops behind a balancer with ALB's quotas (node/app.py)
        app[HEAD_LIMITS] = HeadLimits(16 * 1024 + 2 * HOP_MARGIN, 16 * 1024 + 2 * HOP_MARGIN)
        app.router.add_get("/health", self._health)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.raw_path, dict(request.headers), body))
        if "slow" in request.raw_path:
            await asyncio.sleep(SLOW)
        cacheable = request.raw_path.startswith("/static/cached")
        return web.Response(
            text=f"{request.method} {request.raw_path} {len(body)}",
            headers={
                "X-Echo": request.raw_path,
                "X-Publisher": self.name,
                "Cache-Control": "public, max-age=60" if cacheable else "no-store",
            },
        )


@dataclass
class EdgeEstate:
    url: str  # the built-in balancer's public port
    admin: str  # its control plane
    balancer: Balancer
    publishers: list[EchoPublisher]
    topology: Topology
    edge: Edge  # the balancer's client side: its open connections

    def balancer_connections(self) -> list[ClientConnection]:
        return list(self.edge.connections)

    @property
    def seen(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [entry for p in self.publishers for entry in p.seen]


def edge_topology(tmp_path: Path, publisher_ports: list[int], **lb: Any) -> Topology:
    dispatcher_ports = free_ports(3)
    data = topology_dict(
        tmp_path,
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        publishers=[{"id": f"p{i}", "port": p} for i, p in enumerate(publisher_ports, start=1)],
        dispatchers=[
            {"id": f"d{i}", "port": port, "publisher": f"p{i}"}
            for i, port in enumerate(dispatcher_ports, start=1)
        ],
        dispatcher={"timeout": 5},
        lb={
            "health_check": {
                "interval": "100ms",
                "timeout": "80ms",
                "healthy_threshold": 2,
                "unhealthy_threshold": 2,
            },
            **lb,
        },
    )
    return Topology.from_dict(data)


@contextlib.asynccontextmanager
async def edge_estate(tmp_path: Path, **lb: Any) -> AsyncIterator[EdgeEstate]:
    """Three echo publishers, three real dispatchers and the built-in balancer, running."""
    async with contextlib.AsyncExitStack() as stack:
        publishers = [EchoPublisher(f"p{i}") for i in (1, 2, 3)]
        urls = [await serve(stack, p.app()) for p in publishers]
        topology = edge_topology(tmp_path, [int(u.rsplit(":", 1)[1]) for u in urls], **lb)
        for d in topology.dispatchers:
            await serve(stack, create_dispatcher(topology, d.id), d.port)
        balancer = create_balancer(topology, COOKIE_KEY)
        listening = await stack.enter_async_context(
            balancer_listening(balancer, port=0, admin_port=0)
        )
        estate = EdgeEstate(
            f"http://127.0.0.1:{listening.port}",
            f"http://127.0.0.1:{listening.admin_port}",
            balancer,
            publishers,
            topology,
            listening.edge,
        )
        await wait_serving(estate.url)
        yield estate


async def wait_serving(url: str) -> None:
    """Until ``/lb/health`` says a target is healthy (bounded: 10 s)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/lb/health") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never became healthy")


@contextlib.asynccontextmanager
async def haproxy_in_front_of(estate: EdgeEstate, tmp_path: Path) -> AsyncIterator[str]:
    """HAProxy with the configuration ``python -m lb --emit haproxy`` gives for the same
    topology, in front of the same dispatchers; its public URL."""
    binary = find_haproxy()
    assert binary is not None
    lb = estate.topology.lb
    assert lb is not None
    port, admin_port = free_ports(2)
    config = render(
        lb,
        backends_of(estate.topology),
        bind=f"127.0.0.1:{port}",
        admin_bind=f"127.0.0.1:{admin_port}",
    )
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    process = await asyncio.create_subprocess_exec(
        binary, "-db", "-f", str(path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_serving(url)
        yield url
    finally:
        process.terminate()
        await process.wait()


@dataclass
class RawReply:
    status: int  # 0: closed without a final response; -1: nothing at all within the timeout
    interim: list[int]
    headers: dict[str, str]
    body: bytes


async def read_reply(reader: asyncio.StreamReader, *, head: bool = False) -> RawReply:
    """One final response from ``reader`` (interim 1xx collected on the way)."""
    interim: list[int] = []
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return RawReply(0, interim, {}, b"")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            interim.append(status)
            continue
        length = 0 if head or status in (204, 304) else int(headers.get("content-length", 0))
        body = await reader.readexactly(length) if length else b""
        return RawReply(status, interim, headers, body)


async def exchange(
    url: str, data: bytes, *, replies: int = 1, timeout: float = 5, heads: tuple[int, ...] = ()
) -> list[RawReply]:
    """Send ``data`` on a new connection; read up to ``replies`` responses (fewer if it
    closes); those whose index is in ``heads`` answer a HEAD and have no body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        got = []
        for index in range(replies):
            try:
                reply = await asyncio.wait_for(read_reply(reader, head=index in heads), timeout)
            except TimeoutError:
                reply = RawReply(-1, [], {}, b"")  # neither a response nor a close: a hang
            got.append(reply)
            if reply.status <= 0:
                break
        return got
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
