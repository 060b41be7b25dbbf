"""The balancer's data path in one process: real sockets to real aiohttp stand-in dispatchers.

The edge tests (test_edge.py) run the whole estate as processes; these look closely at what
the proxy does with each request: what reaches the target, what comes back, which failures
are retried and which are not, and what becomes of connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web

from core.topology import Topology
from harness.processes import free_ports
from lb.app import create_balancer
from lb.dispatcher.app import ERROR_HEADER
from lb.main import balancer_listening
from tests.conftest import topology_dict

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
            return web.Response(status=502, text="down", headers={ERROR_HEADER: "unreachable"})
        if self.mode == "hang":
            await self.release.wait()
        return web.json_response(
            {"served_by": self.name, "path": request.raw_path, "body": body.decode()},
            headers={"X-Publisher": self.name, "Cache-Control": "no-store"},
        )


@contextlib.asynccontextmanager
async def balancer_in_front_of(
    tmp_path: Path, stand_ins: list[StandIn], **lb: Any
) -> AsyncIterator[tuple[str, list[web.AppRunner]]]:
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
        url = await stack.enter_async_context(balancer_for(tmp_path, ports, **lb))
        yield url, runners


@contextlib.asynccontextmanager
async def balancer_for(tmp_path: Path, ports: list[int], **lb: Any) -> AsyncIterator[str]:
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
    async with balancer_listening(balancer, host="127.0.0.1", port=0) as port:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # bounded: health checks every 100 ms
                async with http.get(f"{url}/lb/health") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the balancer never found a healthy target")
        yield url


async def lb_status(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(f"{url}/lb/status", headers={"Accept": "application/json"}) as r:
        assert r.status == 200
        return await r.json()


def browser() -> aiohttp.ClientSession:
    """A client with its own cookie jar, which keeps cookies from 127.0.0.1 too."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
def stand_ins() -> list[StandIn]:
    return [StandIn(f"p{i}") for i in (1, 2, 3)]


async def test_a_request_reaches_its_target_whole_and_the_reply_comes_back_whole(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (url, _),
        browser() as http,
        http.post(
            yarl.URL(f"{url}/api/form?x=%2F1", encoded=True),
            data="a=1&b=2",
            headers={"X-Forwarded-For": "203.0.113.9", "Host": "www.example.com"},
        ) as r,
    ):
        assert r.status == 200
        reply = await r.json()
        cookie = r.headers["Set-Cookie"]
    (target,) = [s for s in stand_ins if s.seen]
    seen = target.seen[0]
    assert reply == {"served_by": target.name, "path": "/api/form?x=%2F1", "body": "a=1&b=2"}
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/form?x=%2F1"  # not decoded on the way
    assert seen["headers"]["Host"] == "www.example.com"  # kept, as ALB does
    assert seen["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "http"
    assert cookie.startswith("AWSALB=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


async def test_a_session_stays_on_its_target(tmp_path: Path, stand_ins: list[StandIn]) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (url, _),
        browser() as http,
    ):
        served = set()
        for _ in range(10):
            async with http.get(f"{url}/") as r:
                served.add(r.headers["X-Publisher"])
    assert len(served) == 1


async def test_a_get_that_a_dispatcher_cannot_serve_is_retried_once_elsewhere(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (url, _),
        browser() as http,
    ):
        stand_ins[0].mode = "publisher-down"  # d1's publisher is unreachable
        statuses = []
        for _ in range(3):  # new sessions: round robin starts one of them on d1
            async with browser() as client, client.get(f"{url}/") as r:
                statuses.append(r.status)
        status = await lb_status(http, url)
    assert statuses == [200, 200, 200]
    states = {t["id"]: t["state"] for t in status["targets"]}
    assert states == {"d1": "unhealthy", "d2": "healthy", "d3": "healthy"}  # passive check
    assert status["retries"] == 1
    assert len(stand_ins[0].seen) == 1  # and nothing more was sent to it


async def test_a_post_is_never_retried(tmp_path: Path, stand_ins: list[StandIn]) -> None:
    async with balancer_in_front_of(tmp_path, stand_ins) as (url, _):
        for s in stand_ins:
            s.mode = "publisher-down"
        async with browser() as client, client.post(f"{url}/", data="x") as r:
            assert r.status == 502
            assert await r.text() == "down"  # the dispatcher's own reply, passed on
    assert sum(len(s.seen) for s in stand_ins) == 1


async def test_a_target_that_refuses_connections_is_skipped_for_a_get(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    # Active checks only at start-up: what takes the target out here is the failed request.
    checks = {"interval": "1h", "timeout": "1s"}
    async with (
        balancer_in_front_of(tmp_path, stand_ins, health_check=checks) as (url, runners),
        browser() as http,
    ):
        async with http.get(f"{url}/") as r:
            first = r.headers["X-Publisher"]
        # Stop that target: its pooled connection closes, and its port refuses new ones.
        await runners[[s.name for s in stand_ins].index(first)].cleanup()
        async with http.get(f"{url}/") as r:
            assert r.status == 200
            moved_to = r.headers["X-Publisher"]
        async with http.get(f"{url}/") as r:
            stays_on = r.headers["X-Publisher"]  # the new cookie names the new target
        status = await lb_status(http, url)
    assert moved_to != first
    assert stays_on == moved_to
    states = {t["publisher"]: t["state"] for t in status["targets"]}
    assert states[first] == "unhealthy"
    assert status["retries"] == 1


async def test_a_target_that_does_not_reply_in_time_gives_504_without_a_retry(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with balancer_in_front_of(tmp_path, stand_ins, timeout="300ms") as (url, _):
        for s in stand_ins:
            s.mode = "hang"
        try:
            async with browser() as client, client.get(f"{url}/") as r:
                assert r.status == 504
        finally:
            for s in stand_ins:
                s.release.set()
    assert sum(len(s.seen) for s in stand_ins) == 1


async def test_a_reused_connection_the_target_had_closed_is_replaced_without_an_error(
    tmp_path: Path,
) -> None:
    # A target that answers the first request on each connection and closes the connection
    # when a second one comes, without a reply: what a keep-alive timeout on the target's
    # side looks like when it races with the balancer reusing the connection.
    accepted = 0

    async def first_request_only(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal accepted
        accepted += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Publisher: p\r\n\r\nok")
            await reader.readuntil(b"\r\n\r\n")
        writer.close()

    servers = [await asyncio.start_server(first_request_only, "127.0.0.1", 0) for _ in range(3)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    checks = {"interval": "1h", "timeout": "1s"}  # checks at start-up only
    try:
        async with balancer_for(tmp_path, ports, health_check=checks) as url, browser() as http:
            accepted_before = accepted
            statuses = []
            for _ in range(4):
                async with http.get(f"{url}/") as r:
                    statuses.append((r.status, await r.text()))
            status = await lb_status(http, url)
    finally:
        for server in servers:
            server.close()
    assert statuses == [(200, "ok")] * 4
    assert accepted - accepted_before == 4  # requests 2..4 each found their connection closed
    assert status["retries"] == 0  # and were sent again to the same target, not elsewhere
    assert all(t["state"] == "healthy" for t in status["targets"])


async def raw_exchange(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)  # until the balancer closes
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order_then_a_malformed_one_closes(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with balancer_in_front_of(tmp_path, stand_ins) as (url, _):
        reply = await raw_exchange(
            url,
            b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n"
            b"NONSENSE\r\n\r\n",
        )
    responses = reply.split(b"HTTP/1.1 ")[1:]
    assert [r[:3] for r in responses] == [b"200", b"200", b"200", b"400"]
    bodies = [r.split(b"\r\n\r\n", 1)[1] for r in responses]
    assert json.loads(bodies[0])["path"] == "/one"
    assert bodies[1] == b""  # HEAD: no body...
    assert b"content-length" in responses[1].lower()  # ...but its length
    assert json.loads(bodies[2])["path"] == "/three"
    assert b"Connection: close" in responses[3]
    assert sorted(e["path"] for s in stand_ins for e in s.seen) == ["/one", "/three", "/two"]


async def test_the_balancers_own_pages_are_served_and_never_reach_a_target(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (url, _),
        browser() as http,
    ):
        status = await lb_status(http, url)  # asserts the 200
        assert {t["id"] for t in status["targets"]} == {"d1", "d2", "d3"}
        async with http.get(f"{url}/lb/metrics") as r:
            assert r.status == 200
            assert "tokensim_lb_target_requests" in await r.text()
    assert all(not s.seen for s in stand_ins)
