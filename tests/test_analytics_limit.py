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

from tests.conftest import get_json, start_world

pytestmark = pytest.mark.looptime


async def test_a_node_fetching_per_page_load_is_throttled_and_serves_the_last_report(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await start_world(stack, tmp_path)
    # cache_ttl 0: every page load asks Analytics (what Adobe advises against).
    node = await world.start_node(world.topology(analytics={"cache_ttl": 0}))
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
    topology = world.topology(analytics={"cache_ttl": 5}, publishers=publishers)
    nodes = [await world.start_node(topology, n, seed=i) for i, n in enumerate(ids)]
    for _ in range(120):  # each node's report expires every 5 s: 10 nodes x 12 a minute
        await asyncio.gather(*(get_json(http, f"{n.url}/api/top-pages") for n in nodes))
        await asyncio.sleep(1)
    by_outcome = world.analytics_stats.as_dict()["by_outcome"]
    # 120 calls a minute is exactly the budget: the first burst of ten, and any drift, go over.
    assert by_outcome.get("ok", 0) <= 12 * (120 / 6 + 1)
    assert "unauthorized" not in by_outcome
    assert world.tokens_issued == 10  # per-node: one each, whatever Analytics said
