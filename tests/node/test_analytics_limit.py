"""Analytics' rate limit meets the node, in virtual time: 12 requests per 6 s per client,
shared by every node of the client; over it, 429, which the node answers by serving the last
report and backing off the report (never the token)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import aiohttp
import pytest

from core.topology import Topology
from harness.estate.processes import free_ports
from tests.support.world import Node, World, get_json, start_world

pytestmark = pytest.mark.looptime


async def test_a_node_fetching_per_page_load_is_throttled_and_serves_the_last_report(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await start_world(stack, tmp_path)
    # report_refresh 0: every page load asks Analytics (what Adobe advises against).
    node = await world.start_node(world.topology(analytics={"report_refresh": 0}))
    statuses, stale = [], 0
    for _ in range(600):  # 10 page loads a second for a minute
        status, body = await get_json(http, f"{node.url}/api/top-pages")
        statuses.append(status)
        stale += bool(body.get("stale"))
        await asyncio.sleep(0.1)
    stats = world.analytics_stats.as_dict()
    allowed = stats["by_outcome"].get("ok", 0)
    throttled = stats["by_outcome"].get("throttled", 0)
    assert statuses == [200] * 600  # users never saw the 429: they got the last report
    assert stale > 0
    assert allowed <= 12 * (60 / 6 + 1)  # never more than Adobe's 12 per 6 s
    assert throttled > 0
    assert throttled < 60  # it backed off: far fewer tries than the 600 page loads
    assert world.tokens_issued == 1  # a 429 is not a token problem: no token call
    _, status = await get_json(http, f"{node.url}/status")
    assert status["reports"]["throttled"] == throttled
    episodes = [
        r for r in caplog.records if "429" in r.getMessage() and r.levelno >= logging.WARNING
    ]
    assert 1 <= len(episodes) <= throttled  # one line when an episode starts, not one per 429


async def test_every_node_of_one_client_shares_the_budget(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    ids = [f"p{i}" for i in range(1, 11)]
    publishers = [{"id": n, "port": 18300 + i} for i, n in enumerate(ids)]
    topology = world.topology(analytics={"report_refresh": 5}, publishers=publishers)
    nodes = [await world.start_node(topology, n, seed=i) for i, n in enumerate(ids)]
    for _ in range(120):  # each node's report expires every 5 s: 10 nodes x 12 a minute
        await asyncio.gather(*(get_json(http, f"{n.url}/api/top-pages") for n in nodes))
        await asyncio.sleep(1)
    by_outcome = world.analytics_stats.as_dict()["by_outcome"]
    # 120 calls a minute is exactly the budget: the first burst of ten, and any drift, go over.
    assert by_outcome.get("ok", 0) <= 12 * (120 / 6 + 1)
    assert "unauthorized" not in by_outcome
    assert world.tokens_issued == 10  # per-node: one each, whatever Analytics said


def three(world: World, strategy: str, **analytics: object) -> Topology:
    ports = free_ports(3)
    return world.topology(
        token={"strategy": strategy, "replication": {"lag": 0}},
        analytics={"report_sharing": "shared", **analytics},
        publishers=[{"id": f"p{i}", "port": port} for i, port in enumerate(ports, start=1)],
    )


async def start_three(world: World, topology: Topology) -> list[Node]:
    return [
        await world.start_node(topology, p.id, seed=i, port=p.port)
        for i, p in enumerate(topology.publishers, start=1)
    ]


@pytest.mark.parametrize("strategy", ["per-node", "shared"])
async def test_a_shared_report_is_one_call_per_cache_period_for_the_whole_cluster(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession, strategy: str
) -> None:
    world = await start_world(stack, tmp_path)
    nodes = await start_three(world, three(world, strategy, report_refresh=5))
    for _ in range(60):  # every node every second, for a minute
        replies = await asyncio.gather(*(get_json(http, f"{n.url}/api/top-pages") for n in nodes))
        assert {status for status, _ in replies} == {200}
        await asyncio.sleep(1)
    calls = world.analytics_stats.as_dict()["requests"]
    assert 11 <= calls <= 14  # one per 5 s for the cluster, not three (per-node: 36)


async def test_the_replicated_leader_pushes_the_report_and_followers_never_call(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    nodes = await start_three(world, three(world, "replicated", report_refresh=5))
    await asyncio.sleep(1)
    for _ in range(60):
        await get_json(http, f"{nodes[0].url}/api/top-pages")  # the leader's own visitors...
        for follower in nodes[1:]:
            status, body = await get_json(http, f"{follower.url}/api/top-pages")
            assert status == 200
            assert not body["stale"]
        await asyncio.sleep(1)
    by_caller = world.analytics_stats.as_dict()["by_caller"]
    assert set(by_caller) == {"p1"}  # ...and only the leader asks Analytics
    async with http.put(f"{nodes[1].url}/internal/replication/report", data=b"[" * 1000) as r:
        assert r.status == 400  # not sealed with the cluster keys
