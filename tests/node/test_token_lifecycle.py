"""The per-node token lifecycle in virtual time: real servers, a 24 h lifetime in milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tokensim_token import TokenState
from tokensim_token.errors import TokenUnavailable

from tests.support.world import DAY, GOOD_SECRET, get_json, start_world

pytestmark = pytest.mark.looptime


@pytest.mark.long
async def test_refreshes_before_expiry_across_five_24h_lifetimes(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    node = await world.start_node(world.topology())
    lifetimes, step = 5, 1800.0  # a user request every 30 virtual minutes
    statuses, fingerprints, min_left = [], set(), float("inf")
    for _ in range(int(lifetimes * DAY / step)):
        status, body = await get_json(http, f"{node.url}/api/top-pages")
        statuses.append(status)
        assert body["stale"] is False
        visits = [p["visits"] for p in body["pages"]]
        assert visits == sorted(visits, reverse=True)
        assert len(visits) == 10
        _, info = await get_json(http, f"{node.url}/status")
        fingerprints.add(info["token"]["fingerprint"])
        min_left = min(min_left, info["token"]["seconds_left"])
        await asyncio.sleep(step)

    assert set(statuses) == {200}
    assert world.analytics_stats.by_outcome["unauthorized"] == 0
    # Refreshing at 50-60 % of the lifetime: between 1/0.6 and 1/0.5 tokens per lifetime.
    assert math.floor(lifetimes / 0.6) <= world.tokens_issued <= math.ceil(lifetimes / 0.5) + 1
    assert len(fingerprints) == world.tokens_issued
    assert min_left > DAY * 0.4 - step  # never got anywhere near expiry


async def test_thousand_concurrent_requests_without_a_token_make_one_token_call(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    world.ims_faults(latency=0.5)  # keep the one call in flight while the others arrive
    node = await world.start_node(world.topology())
    snapshots = await asyncio.gather(*(node.tokens.get() for _ in range(1000)))
    assert world.tokens_issued == 1
    assert world.ims_stats.peak_in_flight == 1
    assert len({s.value.reveal() for s in snapshots}) == 1
    assert len({id(s) for s in snapshots}) == 1  # the very same immutable snapshot


async def test_concurrent_page_requests_share_one_token_and_one_report_call(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    world.ims_faults(latency=0.2)
    node = await world.start_node(world.topology(analytics={"report_refresh": 0}))
    replies = await asyncio.gather(
        *(get_json(http, f"{node.url}/api/top-pages") for _ in range(200))
    )
    assert {status for status, _ in replies} == {200}
    assert world.tokens_issued == 1
    assert world.analytics_stats.by_outcome["ok"] == 1


@pytest.mark.long
async def test_ims_down_for_most_of_a_lifetime_causes_no_user_visible_error(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    node = await world.start_node(world.topology())
    await get_json(http, f"{node.url}/api/top-pages")
    first = (await node.tokens.get()).fingerprint
    await asyncio.sleep(0.05 * DAY)
    world.ims_faults(outage=True)
    bad = 0
    for _ in range(90):  # until 95 % of the lifetime
        status, body = await get_json(http, f"{node.url}/api/top-pages")
        bad += status != 200 or body["stale"]
        await asyncio.sleep(0.01 * DAY)
    status_during = node.tokens.status()
    world.ims_faults(outage=False)
    await asyncio.sleep(0.04 * DAY)  # before the first token expires

    assert bad == 0
    assert status_during.failed_refreshes > 0
    assert status_during.state is TokenState.STALE
    new = node.tokens.status()
    assert new.fingerprint != first
    assert new.state is TokenState.FRESH
    # Backoff is capped at 60 s with full jitter: about one call per 30 s, never a hot loop.
    outage_seconds = 0.45 * DAY
    assert world.ims_stats.requests_by_status[503] < outage_seconds / 20


async def test_outage_past_expiry_serves_the_last_report_as_stale_not_an_error(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=600)
    node = await world.start_node(world.topology(analytics={"report_refresh": 300}))
    status, body = await get_json(http, f"{node.url}/api/top-pages")
    assert status == 200
    assert body["stale"] is False
    world.ims_faults(outage=True)
    # The token has expired and cannot be replaced; the report's refresh after it failed.
    await asyncio.sleep(700)
    assert node.tokens.state() is TokenState.INVALID
    status, body = await get_json(http, f"{node.url}/api/top-pages")
    assert status == 200
    assert body["stale"] is True
    assert len(body["pages"]) == 10
    health, _ = await get_json(http, f"{node.url}/health")
    assert health == 200  # it still serves pages


async def test_revoked_token_gives_one_refresh_for_many_concurrent_401s(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology(analytics={"report_refresh": 0}))
    await get_json(http, f"{node.url}/api/top-pages")
    before = (await node.tokens.get()).fingerprint
    async with http.post(f"{world.ims_url}/admin/revoke") as response:
        assert response.status == 200

    replies = await asyncio.gather(
        *(get_json(http, f"{node.url}/api/top-pages") for _ in range(10))
    )
    assert {status for status, _ in replies} == {200}
    assert not any(body["stale"] for _, body in replies)
    assert world.tokens_issued == 2  # the first token, and exactly one after revocation
    assert world.analytics_stats.by_outcome["unauthorized"] == 1  # single-flight report call
    assert (await node.tokens.get()).fingerprint != before


async def test_invalidate_ignores_a_token_that_was_already_replaced(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology())
    old = await node.tokens.get()
    assert node.tokens.invalidate(old) is True
    new = await node.tokens.get()
    assert node.tokens.invalidate(old) is False  # a late 401 for the old token
    assert await node.tokens.get() is new
    assert world.tokens_issued == 2


async def test_retry_after_is_honoured(stack: contextlib.AsyncExitStack, tmp_path: Path) -> None:
    world = await start_world(stack, tmp_path)
    world.ims_faults(throttle_rate=1.0, retry_after=120)
    node = await world.start_node(world.topology())
    await asyncio.sleep(600)
    throttled = world.ims_stats.requests_by_status[429]
    assert 1 <= throttled <= 600 / 120 + 1
    world.ims_faults(throttle_rate=0.0)
    await asyncio.sleep(130)
    assert node.tokens.state() is TokenState.FRESH


async def test_second_secret_is_used_when_the_first_is_refused(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology(), secrets=("retired-1", "retired-2", GOOD_SECRET))
    await node.tokens.get()
    assert dict(world.ims_stats.requests_by_status) == {401: 2, 200: 1}  # in order, each once
    status = node.tokens.status()
    assert status.configuration_error is None
    assert (status.refresh_count, status.failed_refreshes, status.token_calls) == (1, 2, 3)
    # The next refresh starts from the secret that works.
    node.tokens.invalidate(await node.tokens.get())
    await node.tokens.get()
    assert dict(world.ims_stats.requests_by_status) == {401: 2, 200: 2}


async def test_refused_credentials_are_a_configuration_error_retried_slowly(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await start_world(stack, tmp_path)
    caplog.set_level(logging.INFO)
    node = await world.start_node(world.topology(), secrets=("wrong-1", "wrong-2", "wrong-3"))
    await asyncio.sleep(3599)
    status = node.tokens.status()
    assert status.configuration_error
    assert "invalid_client" in status.configuration_error
    # Each secret once, every 300 s, for an hour (rounds at 0, 300, ..., 3300): not a loop,
    # and every round tries them all again.
    assert world.ims_stats.requests_by_status[401] == 3 * 12
    assert (status.token_calls, status.failed_refreshes, status.refresh_count) == (36, 36, 0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # logged once
    _code, body = await get_json(http, f"{node.url}/status")
    assert "invalid_client" in body["token"]["configuration_error"]
    health, _ = await get_json(http, f"{node.url}/health")
    assert health == 503


async def test_malformed_ims_reply_is_a_failed_refresh_not_a_crash(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    world.ims_faults(malformed_rate=1.0)
    node = await world.start_node(world.topology())
    await asyncio.sleep(30)
    status = node.tokens.status()
    assert status.refresh_count == 0
    assert status.failed_refreshes >= 2
    assert "not a JSON object" in (status.last_refresh_error or "")
    code, _ = await get_json(http, f"{node.url}/api/top-pages")
    assert code == 503
    world.ims_faults(malformed_rate=0.0)
    await asyncio.sleep(60)
    code, body = await get_json(http, f"{node.url}/api/top-pages")
    assert code == 200
    assert body["stale"] is False


async def test_restart_reuses_the_saved_token_without_a_token_call(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = world.topology()
    first = await world.start_node(topology)
    token = await first.tokens.get()
    await first.tokens.close()
    await asyncio.sleep(3600)  # the node is down for an hour

    second = await world.start_node(topology, seed=2)
    again = await second.tokens.get()
    assert world.tokens_issued == 1
    assert again.value == token.value
    status = second.tokens.status()
    assert status.restored_from_disk
    assert status.token_calls == 0
    assert status.seconds_left == pytest.approx(DAY - 3600, abs=1)
    # It keeps to the usual schedule: the next token call comes at about half-life.
    await asyncio.sleep(0.3 * DAY)
    assert world.tokens_issued == 1
    await asyncio.sleep(0.4 * DAY)
    assert world.tokens_issued == 2


async def test_restart_with_an_expired_saved_token_fetches_a_new_one(
    stack: contextlib.AsyncExitStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = await start_world(stack, tmp_path, expires_in=600)
    topology = world.topology()
    first = await world.start_node(topology)
    await first.tokens.get()
    await first.tokens.close()
    await asyncio.sleep(613)  # past its 600 s lifetime
    caplog.set_level(logging.INFO)
    second = await world.start_node(topology)
    await second.tokens.get()
    assert world.tokens_issued == 2
    assert not second.tokens.status().restored_from_disk
    # One line for the fact, however often the stored token is looked at (it was three).
    stale = [r.getMessage() for r in caplog.records if "inside the margin" in r.getMessage()]
    assert len(stale) == 1, stale
    assert "expired 13s ago" in stale[0]


async def test_nodes_with_their_own_jitter_do_not_refresh_in_step(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = world.topology()
    nodes = [await world.start_node(topology, f"p{i}", seed=i) for i in (1, 2)]
    await asyncio.gather(*(n.tokens.get() for n in nodes))
    due = [n.tokens.status().next_refresh_in for n in nodes]
    assert all(0.5 * DAY <= d <= 0.6 * DAY for d in due)
    assert abs(due[0] - due[1]) > 60


async def _in_the_last_seconds(
    stack: contextlib.AsyncExitStack, tmp_path: Path, *, ims_latency: float, error_rate: float
) -> tuple[Any, Any, Any]:
    """A node whose token is about to expire while its refresh call (made at half-life) is
    still in flight: IMS takes ``ims_latency`` to answer, and fails with ``error_rate``."""
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = world.topology(
        token={"refresh_at": 0.5, "refresh_jitter": 0.0},
        ims={"timeout": 2 * DAY},
    )
    node = await world.start_node(topology)
    first = await node.tokens.get()
    world.ims_faults(latency=ims_latency, error_rate=error_rate)
    return world, node, first


async def test_a_refresh_that_fails_in_the_last_seconds_leaves_callers_the_token_they_have(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """The call made at half-life fails 2 s before expiry; a request that arrived 5 s before
    expiry and waited for it gets the current token then, not an error."""
    world, node, first = await _in_the_last_seconds(
        stack, tmp_path, ims_latency=DAY / 2 - 2, error_rate=1.0
    )
    await asyncio.sleep(first.expires_at - 5 - world.clock.monotonic())
    assert node.tokens.status().token_calls == 2  # the refresh call is in flight
    asked = world.clock.monotonic()
    token = await node.tokens.get()
    assert token.fingerprint == first.fingerprint
    assert world.clock.monotonic() - asked == pytest.approx(3.0, abs=0.05)
    await _calls_answered(world)


@pytest.mark.parametrize(("left", "waited"), [(4.0, 4.0), (60.0, 10.0)])
async def test_a_slow_refresh_holds_a_request_no_longer_than_the_token_or_the_wait_limit(
    stack: contextlib.AsyncExitStack, tmp_path: Path, left: float, waited: float
) -> None:
    """IMS takes a whole day to answer the refresh: a request inside the token's last 300 s
    waits for it at most wait_timeout (10 s), and never past the token's expiry, then gets
    the current token."""
    world, node, first = await _in_the_last_seconds(
        stack, tmp_path, ims_latency=DAY, error_rate=0.0
    )
    await asyncio.sleep(first.expires_at - left - world.clock.monotonic())
    asked = world.clock.monotonic()
    token = await node.tokens.get()
    assert token.fingerprint == first.fingerprint
    assert world.clock.monotonic() - asked == pytest.approx(waited, abs=0.05)
    await _calls_answered(world)


async def _calls_answered(world: Any) -> None:
    """Let the slow calls still in flight finish in virtual time: the servers' shutdown
    would otherwise wait for them in real time."""
    world.ims_faults(latency=0.0, error_rate=0.0)
    await asyncio.sleep(DAY)


async def test_the_node_follows_the_token_settings_it_is_given(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """refresh_at, refresh_jitter, retry base and cap, expiry_margin and wait_timeout from
    topology.yaml each change what the node does (1 h tokens, IMS down from the refresh on)."""
    world = await start_world(stack, tmp_path, expires_in=3600)
    topology = world.topology(
        token={
            "refresh_at": 0.3,
            "refresh_jitter": 0.0,
            "expiry_margin": 600,
            "wait_timeout": 7,
            "retry": {"base": 4, "cap": 8, "config_error_interval": 300},
        }
    )
    node = await world.start_node(topology)
    first = await node.tokens.get()
    clock = world.clock
    assert node.tokens.status().next_refresh_in == pytest.approx(1080, abs=0.5)  # 0.3 x 1 h
    world.ims_faults(outage=True)
    await asyncio.sleep(first.obtained_at + 1080.5 - clock.monotonic())
    status = node.tokens.status()
    assert status.consecutive_failures == 1
    assert 0 <= status.next_refresh_in <= 4  # the base
    waits = []
    for _ in range(60):
        await asyncio.sleep(0.5)
        waits.append(node.tokens.status().next_refresh_in)
    assert node.tokens.status().consecutive_failures >= 4
    assert max(waits) <= 8  # the cap
    await asyncio.sleep(first.expires_at - 601 - clock.monotonic())
    assert node.tokens.state() is TokenState.STALE
    await asyncio.sleep(2)
    assert node.tokens.state() is TokenState.EXPIRING  # the last 600 s
    await asyncio.sleep(first.expires_at + 1 - clock.monotonic())
    asked = clock.monotonic()
    with pytest.raises(TokenUnavailable):
        await node.tokens.get()
    assert clock.monotonic() - asked <= 7.05  # wait_timeout
    world.ims_faults(outage=False)
