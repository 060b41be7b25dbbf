"""A balancer in this process in front of real aiohttp stand-in dispatchers (or anything that
listens), for the tests that look closely at the edge's data path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from core.forwarding import DISPATCHER_ERROR_HEADER
from core.topology import Topology
from harness.estate.processes import free_ports
from lb.app import create_balancer
from lb.main import balancer_listening
from tests.support.world import topology_dict

COOKIE_KEY = bytes(range(32))


class StandIn:
    """A dispatcher stand-in: echoes what it received, or fails as told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, Any]] = []
        self.mode = "ok"  # ok | publisher-down | hang
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_route("*", "/{tail:.*}", self.page)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def page(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
                "body": body.decode(),
            }
        )
        if self.mode == "publisher-down":
            return web.Response(
                status=502, text="down", headers={DISPATCHER_ERROR_HEADER: "unreachable"}
            )
        if self.mode == "hang":
            await self.release.wait()
        return web.json_response(
            {"served_by": self.name, "path": request.raw_path, "body": body.decode()},
            headers={"X-Publisher": self.name, "Cache-Control": "no-store"},
        )


@dataclass(frozen=True)
class Lb:
    """A running balancer: its public URL and its control plane's."""

    url: str
    admin: str


@contextlib.asynccontextmanager
async def balancer_in_front_of(
    tmp_path: Path, stand_ins: list[StandIn], **lb: Any
) -> AsyncIterator[tuple[Lb, list[web.AppRunner]]]:
    """The balancer's URL, and the stand-ins' runners (a test may stop one)."""
    async with contextlib.AsyncExitStack() as stack:
        ports, runners = [], []
        for s in stand_ins:
            runner = web.AppRunner(s.app(), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            stack.push_async_callback(runner.cleanup)  # idempotent: a test may stop it first
            ports.append(int(site.name.rsplit(":", 1)[1]))
            runners.append(runner)
        balancer = await stack.enter_async_context(balancer_for(tmp_path, ports, **lb))
        yield balancer, runners


@contextlib.asynccontextmanager
async def balancer_for(tmp_path: Path, ports: list[int], **lb: Any) -> AsyncIterator[Lb]:
    """A balancer in front of three targets on ``ports``, once it has found them healthy."""
    *unused, lb_port = free_ports(4)  # the publishers' ports are never used here
    data = topology_dict(
        tmp_path,
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        publishers=[{"id": f"p{i}", "port": p} for i, p in enumerate(unused, start=1)],
        dispatchers=[
            {"id": f"d{i}", "port": port, "publisher": f"p{i}"}
            for i, port in enumerate(ports, start=1)
        ],
        lb={
            "port": lb_port,
            "health_check": {
                "interval": "100ms",
                "timeout": "50ms",
                "healthy_threshold": 2,
                "unhealthy_threshold": 2,
            },
            **lb,
        },
    )
    balancer = create_balancer(Topology.from_dict(data), COOKIE_KEY)
    async with balancer_listening(balancer, port=0, admin_port=0) as listening:
        port, admin_port = listening.port, listening.admin_port
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # bounded: health checks every 100 ms
                async with http.get(f"{url}/lb/health") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the balancer never found a healthy target")
        yield Lb(url, f"http://127.0.0.1:{admin_port}")


async def lb_status(http: aiohttp.ClientSession, lb: Lb) -> Any:
    async with http.get(f"{lb.admin}/lb/status", headers={"Accept": "application/json"}) as r:
        assert r.status == 200
        return await r.json()


def browser() -> aiohttp.ClientSession:
    """A client with its own cookie jar, which keeps cookies from 127.0.0.1 too."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def raw_exchange(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)  # until the balancer closes
    finally:
        writer.close()
