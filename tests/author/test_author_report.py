"""The author-report design in one process, on real servers: the author (the only holder of
the client secret and of a token) fetches the report and replicates it to every publisher,
flushes the dispatchers, retries a publisher that fails without losing a report, and a
publisher keeps what it was published across a restart and refuses what is not a report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from tokensim_token import Keyring
from tokensim_token.secrets import Secret

from author.agent import ReplicationAgent, Target
from author.app import AUTHOR
from author.app import create_app as create_author
from core.topology import Topology, TopologyError
from harness.estate.processes import free_ports
from lb.dispatcher.app import create_app as create_dispatcher
from node.analytics_client import PageVisits
from node.replication_http import REPORT_PATH
from node.report_sharing import SharedPages, seal_report
from node.token.strategies import TokenDeps
from tests.support.world import GOOD_SECRET, World, serve, start_world, topology_dict

WIDGET = "/content/site/en/top-pages.json"


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Wait for ``check`` (generous: a busy machine), polling; fail when it never holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("the condition did not hold in time")
        await asyncio.sleep(0.05)


def published_topology(world: World, ports: list[int]) -> Topology:
    p1, p2, d1, author = ports
    return world.topology(
        analytics={"report_source": "published"},
        author={"port": author, "retry": 0.05, "retry_cap": 0.2},
        publishers=[{"id": "p1", "port": p1}, {"id": "p2", "port": p2}],
        dispatchers=[{"id": "d1", "port": d1, "publisher": "p1"}],
        dispatcher={"cache": {"enabled": True}},
    )


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with http.get(url) as reply:
        return reply.status, reply.headers.get("X-Cache", ""), await reply.text()


@pytest.mark.looptime(False)
async def test_the_author_alone_calls_ims_and_every_publisher_serves_its_report(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await start_world(stack, tmp_path)
    ports = free_ports(4)
    topology = published_topology(world, ports)
    p1 = await world.start_node(topology, "p1", secrets=(), port=ports[0])
    await world.start_node(topology, "p2", secrets=(), port=ports[1])
    await serve(stack, create_dispatcher(topology, "d1"), ports[2])
    deps = TokenDeps(secrets=(Secret(GOOD_SECRET),), keyring=world.keyring, clock=world.clock)
    author = create_author(topology, deps)
    await serve(stack, author, ports[3])

    async def widget_served() -> bool:
        return (await get(http, f"{p1.url}{WIDGET}"))[0] == 200

    await until(widget_served)
    assert set(world.ims_stats.issued_by_caller) == {"author"}  # no publisher holds a token
    async with http.get(f"{p1.url}/status") as reply:
        assert (await reply.json())["token"]["strategy"] == "none"
    async with http.get(f"{p1.url}/health") as reply:
        assert reply.status == 200

    # Through the dispatcher: cached until the author's flush, then fetched again.
    dispatcher = f"http://127.0.0.1:{ports[2]}"
    first = await get(http, dispatcher + WIDGET)
    assert (await get(http, dispatcher + WIDGET))[1] == "HIT"
    newer = SharedPages((PageVisits("/content/new.html", 99.0),), world.clock.wall() + 1)
    state = author[AUTHOR]
    for agent in state.agents:
        agent.enqueue(seal_report(world.keyring, newer))

    async def flushed() -> bool:
        status, _, body = await get(http, dispatcher + WIDGET)
        return status == 200 and "/content/new.html" in body

    await until(flushed)
    assert "/content/new.html" not in first[2]
    assert all(a.counts["flushed"] >= 1 for a in state.agents if a.status()["publisher"] == "p1")

    # A push that is not a sealed report: refused, the previous report kept, said once.
    caplog.set_level(logging.WARNING, logger="node.published")
    for garbage in (b"not a report", b'{"pages": []}'):
        async with http.put(f"{p1.url}{REPORT_PATH}", data=garbage) as reply:
            assert reply.status == 400
    assert "/content/new.html" in (await get(http, f"{p1.url}{WIDGET}"))[2]
    refused = [r for r in caplog.records if "refused a published report" in r.getMessage()]
    assert len(refused) == 1

    # Another instance of p1 on the same disk serves the report at once, without the author.
    again = await world.start_node(topology, "p1", secrets=(), port=free_ports(1)[0])
    status, _, body = await get(http, f"{again.url}{WIDGET}")
    assert status == 200
    assert "/content/new.html" in body


@pytest.mark.looptime(False)
async def test_a_publisher_that_answers_500_blocks_its_queue_and_loses_nothing(
    stack: contextlib.AsyncExitStack, http: aiohttp.ClientSession
) -> None:
    taken: list[bytes] = []
    failures = [3]

    async def receive(request: web.Request) -> web.Response:
        if failures[0]:
            failures[0] -= 1
            return web.Response(status=500)
        taken.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_put(REPORT_PATH, receive)
    url = await serve(stack, app)
    agent = ReplicationAgent(
        Target("p9", url, ()),
        http,
        retry=0.02,
        retry_cap=0.1,
        flush=False,
        timeout=5.0,
        clock=asyncio.get_running_loop().time,
    )
    agent.start()
    stack.push_async_callback(agent.close)
    for blob in (b"first", b"second", b"third"):
        agent.enqueue(blob)

    async def drained() -> bool:
        return len(taken) == 3

    await until(drained)
    assert taken == [b"first", b"second", b"third"]  # in order, none lost
    assert agent.counts["retries"] == 3
    assert agent.counts["answered_500"] == 3
    assert agent.status()["blocked_for_s"] is None
    assert agent.status()["pending"] == 0


@pytest.mark.looptime(False)
async def test_a_flush_that_fails_is_counted_and_not_retried(
    stack: contextlib.AsyncExitStack, http: aiohttp.ClientSession
) -> None:
    """AEM's flush agent: the dispatcher answered 503; the report is delivered all the same,
    the dispatcher keeps serving its cached copy until the next flush (the next report)."""
    taken: list[bytes] = []
    flushes: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        taken.append(await request.read())
        return web.Response(status=204)

    async def invalidate(request: web.Request) -> web.Response:
        flushes.append(request.headers.get("CQ-Handle", ""))
        return web.Response(status=503)

    publisher, dispatcher = web.Application(), web.Application()
    publisher.router.add_put(REPORT_PATH, receive)
    dispatcher.router.add_post("/dispatcher/invalidate.cache", invalidate)
    agent = ReplicationAgent(
        Target("p9", await serve(stack, publisher), (await serve(stack, dispatcher),)),
        http,
        retry=0.02,
        retry_cap=0.1,
        flush=True,
        timeout=5.0,
        clock=asyncio.get_running_loop().time,
    )
    agent.start()
    stack.push_async_callback(agent.close)
    for blob in (b"first", b"second"):
        agent.enqueue(blob)

    async def both_flushed() -> bool:
        return agent.counts["flush_failed"] == 2

    await until(both_flushed)
    assert taken == [b"first", b"second"]  # delivered although the flushes failed
    assert flushes == ["/content/site/en/top-pages"] * 2  # one per report: never retried
    assert agent.counts["retries"] == 0
    assert agent.counts["flushed"] == 0


def test_a_published_report_needs_an_author(tmp_path: Path) -> None:
    data = topology_dict(tmp_path, "http://i", "http://a", analytics={"report_source": "published"})
    with pytest.raises(TopologyError, match=r"author: required when analytics\.report_source"):
        Topology.from_dict(data)
    data["author"] = {"port": 4502, "host": "8.8.8.8"}
    with pytest.raises(TopologyError, match=r"author\.host"):
        Topology.from_dict(data)


def test_a_sealed_report_from_another_cluster_is_not_a_report() -> None:
    report = SharedPages((PageVisits("/x", 1.0),), 1.0)
    assert seal_report(Keyring.generate(), report) != seal_report(Keyring.generate(), report)
