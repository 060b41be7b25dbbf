"""What each strategy tells its callers and its operators, through one token's life.

``current()`` is what a caller that must not wait (the virtual world's report loop, the
replication endpoint) gets; ``/status`` is what an operator reads. Both must agree with what
``get()`` does: a status that shows a valid token while requests fail, or a ``current()``
that hands out an expired token, misleads the person or the code that trusts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tokensim_token import ConfigurationError, ImsUnavailable, TokenUnavailable
from tokensim_token.clock import Clock
from tokensim_token.model import AccessToken, TokenGrant
from tokensim_token.policy import RefreshPolicy
from tokensim_token.refreshing import ProviderSettings, RefreshingTokenProvider
from tokensim_token.secrets import Secret

from tests.support.world import (
    DAY,
    ScriptedTokenEndpoint,
    World,
    get_json,
    start_provider,
    start_world,
)

pytestmark = pytest.mark.looptime

HOUR = 3600  # a token lifetime whose mandatory margin is the full 300 s


async def token_status(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    status, body = await get_json(http, f"{url}/status")
    assert status == 200
    token: dict[str, Any] = body["token"]
    return token


async def test_naive_reports_each_call_its_failures_and_the_expiry(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=600)
    node = await world.start_node(world.topology(token={"strategy": "naive"}))
    provider = node.tokens
    first = await provider.get()  # the node fetched once at start; this is that token
    assert provider.current() == first
    await asyncio.sleep(200)
    shown = await token_status(http, node.url)
    assert shown["strategy"] == "naive"
    assert (shown["state"], shown["fingerprint"]) == ("fresh", first.fingerprint)
    assert shown["seconds_left"] == pytest.approx(400, abs=2)
    assert shown["age_seconds"] == pytest.approx(200, abs=2)
    assert (shown["token_calls"], shown["refresh_count"], shown["failed_refreshes"]) == (1, 1, 0)
    assert shown["next_refresh_in"] is None  # it never refreshes ahead
    assert shown["last_refresh_error"] is None

    await asyncio.sleep(401)  # expired: nothing refreshed it
    assert provider.current() is None
    shown = await token_status(http, node.url)
    assert (shown["state"], shown["seconds_left"], shown["age_seconds"]) == ("invalid", None, None)
    assert shown["fingerprint"] == first.fingerprint  # the last one it had, for the record

    world.ims_faults(outage=True)
    for _ in range(2):
        with pytest.raises(TokenUnavailable, match=r"token call failed: .*503"):
            await provider.get()
    shown = await token_status(http, node.url)
    assert (shown["token_calls"], shown["refresh_count"], shown["failed_refreshes"]) == (3, 1, 2)
    assert "503" in shown["last_refresh_error"]
    # It keeps no count of failures in a row and never restores a token from disk.
    assert (shown["consecutive_failures"], shown["restored_from_disk"]) == (0, False)

    world.ims_faults(outage=False)
    second = await provider.get()
    assert second.fingerprint != first.fingerprint
    shown = await token_status(http, node.url)
    assert (shown["token_calls"], shown["refresh_count"], shown["failed_refreshes"]) == (4, 2, 2)
    assert shown["state"] == "fresh"

    assert not provider.invalidate(first)  # an old token's 401 drops nothing
    assert provider.current() == second
    assert provider.invalidate(second)
    assert provider.current() is None
    assert (await token_status(http, node.url))["state"] == "invalid"
    assert not provider.invalidate(second)  # already gone


async def test_refreshing_hands_out_no_token_without_waiting_inside_its_margin(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tokensim_token.refreshing")
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    world.ims_faults(latency=5.0)
    node = await world.start_node(world.topology())
    shown = await token_status(http, node.url)  # the first call is on its way
    assert (shown["state"], shown["token_calls"], shown["next_refresh_in"]) == ("invalid", 1, 0.0)
    assert (shown["seconds_left"], shown["age_seconds"], shown["fingerprint"]) == (None, None, None)
    provider = node.tokens
    token = await provider.get()
    world.ims_faults(latency=0.0)
    assert provider.current() == token
    await asyncio.sleep(1000.25037)
    shown = await token_status(http, node.url)
    # Obtained when the call was sent, 5 s before it came back (latency counts against it).
    assert shown["seconds_left"] == pytest.approx(HOUR - 1005.25, abs=0.01)
    assert shown["age_seconds"] == pytest.approx(1005.25, abs=0.01)
    assert HOUR * 0.5 - 1005 <= shown["next_refresh_in"] <= HOUR * 0.6 - 1005  # half-life+jitter
    for field in ("seconds_left", "age_seconds", "next_refresh_in"):
        assert isinstance(shown[field], float)
        assert round(shown[field], 3) == shown[field]  # to the millisecond, as documented
    world.ims_faults(outage=True)  # the refresh at half-life and every retry fail
    await asyncio.sleep(token.expires_at - 400 - world.clock.monotonic())  # 100 s to the margin
    assert provider.current() == token
    shown = await token_status(http, node.url)
    assert shown["state"] == "stale"
    assert shown["failed_refreshes"] >= 1
    await asyncio.sleep(200)  # inside the margin
    assert provider.current() is None  # a caller that must not wait gets nothing...
    assert await provider.get() == token  # ...one that may wait still gets the valid token
    assert (await token_status(http, node.url))["state"] == "expiring"
    # While the token still works a failed refresh is a warning; an error would page someone.
    failures = [r for r in caplog.records if "refresh failed" in r.getMessage()]
    assert failures
    assert {r.levelname for r in caplog.records} == {"WARNING"}
    await asyncio.sleep(400)  # expired, and IMS still down: now it is an error
    assert any(
        r.levelname == "ERROR" and "no valid token" in r.getMessage() for r in caplog.records
    )


async def test_scheduled_leader_and_follower_report_the_job_not_the_lifetime(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await start_world(stack, tmp_path, expires_in=600)
    topology = world.topology(
        token={"strategy": "scheduled", "schedule_interval": 900, "peer_poll": 10},
        publishers=[{"id": "p1", "port": 18101}, {"id": "p2", "port": 18102}],
    )
    leader = await world.start_node(topology, "p1")
    follower = await world.start_node(topology, "p2", seed=2)
    token = await leader.tokens.get()
    assert await follower.tokens.get() == token
    await asyncio.sleep(100.25037)
    shown = await token_status(http, leader.url)
    assert shown["strategy"] == "scheduled"
    assert (shown["state"], shown["fingerprint"]) == ("fresh", token.fingerprint)
    assert (shown["token_calls"], shown["refresh_count"], shown["failed_refreshes"]) == (1, 1, 0)
    assert shown["next_refresh_in"] == pytest.approx(799.75, abs=0.01)
    assert round(shown["next_refresh_in"], 3) == shown["next_refresh_in"]
    assert shown["seconds_left"] == pytest.approx(500, abs=2)
    assert shown["age_seconds"] == pytest.approx(100, abs=2)
    peer = await token_status(http, follower.url)
    assert (peer["state"], peer["fingerprint"], peer["token_calls"]) == (
        "fresh",
        token.fingerprint,
        0,
    )
    assert peer["next_refresh_in"] is None  # followers run no job
    assert peer["seconds_left"] == pytest.approx(499.75, abs=0.01)  # its age counts, exactly
    # A leader restarted with the published token waits for its slot: no call at once.
    again = await world.start_node(topology, "p1", seed=3)
    shown = await token_status(http, again.url)
    assert (shown["token_calls"], shown["fingerprint"]) == (0, token.fingerprint)
    assert shown["next_refresh_in"] == pytest.approx(799.75, abs=0.5)
    assert shown["seconds_left"] == pytest.approx(499.75, abs=0.01)  # published 100 s ago
    assert shown["restored_from_disk"] is True
    await again.tokens.close()

    caplog.set_level(logging.WARNING, logger="node.token.scheduled")
    for _ in range(250):  # every request's 401 until the next run
        assert not follower.tokens.invalidate(token)  # changes nothing until the next run
    refusals = [r.getMessage() for r in caplog.records if "refused by the API" in r.getMessage()]
    assert [m.split("(")[1].split(" ")[0] for m in refusals] == ["1", "100", "200"]  # throttled
    assert not follower.tokens.invalidate(AccessToken(Secret("other"), 0.0, 1.0))
    assert len([r for r in caplog.records if "refused by the API" in r.getMessage()]) == 3
    await asyncio.sleep(600)  # expired at 600 s; the next run is at 900 s
    for node in (leader, follower):
        assert node.tokens.current() == token  # the design's flaw: the expired token, handed out
        shown = await token_status(http, node.url)
        assert (shown["state"], shown["seconds_left"]) == ("invalid", None)

    world.ims_faults(outage=True)
    await asyncio.sleep(250)  # the run at 900 s fails and backs off
    delays = [
        float(r.getMessage().rsplit("retry in ", 1)[1].rstrip("s"))
        for r in caplog.records
        if "scheduled token run failed" in r.getMessage()
    ]
    # Full jitter under a ceiling that doubles from 2 s (the base) up to 60 s (the cap).
    assert [d <= min(60.0, 2.0 * 2**i) for i, d in enumerate(delays)] == [True] * len(delays)
    shown = await token_status(http, leader.url)
    assert (shown["token_calls"], shown["failed_refreshes"]) >= (2, 1)
    assert shown["consecutive_failures"] == shown["failed_refreshes"]
    assert "503" in shown["last_refresh_error"]
    assert 0 <= shown["next_refresh_in"] <= 60  # the backoff's cap, not the interval
    world.ims_faults(outage=False)
    await asyncio.sleep(61)
    shown = await token_status(http, leader.url)
    assert (shown["state"], shown["consecutive_failures"]) == ("fresh", 0)
    assert shown["fingerprint"] != token.fingerprint
    assert shown["next_refresh_in"] == pytest.approx(900, abs=62)
    assert shown["refresh_count"] == 2


async def test_a_scheduled_leader_throttled_by_ims_comes_back_no_sooner_than_told(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    world.ims_faults(latency=2.0, throttle_rate=1.0, retry_after=120)
    topology = world.topology(token={"strategy": "scheduled", "schedule_interval": DAY / 2})
    leader = await world.start_node(topology, "p1")
    shown = await token_status(http, leader.url)
    assert (shown["token_calls"], shown["next_refresh_in"]) == (1, 0.0)  # its run is under way
    await asyncio.sleep(3)
    shown = await token_status(http, leader.url)
    assert (shown["token_calls"], shown["failed_refreshes"]) == (1, 1)
    assert "429" in shown["last_refresh_error"]
    assert shown["next_refresh_in"] == pytest.approx(119, abs=0.5)  # Retry-After is a floor
    assert leader.tokens.current() is None


async def test_scheduled_nodes_wait_for_the_first_token_no_longer_than_the_wait_limit(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    world.ims_faults(latency=4.5)  # the leader's first run takes 4.5 s
    topology = world.topology(
        token={
            "strategy": "scheduled",
            "schedule_interval": DAY / 2,
            "peer_poll": 60,
            "wait_timeout": "10s",
        },
        publishers=[{"id": "p1", "port": 18101}, {"id": "p2", "port": 18102}],
    )
    leader = await world.start_node(topology, "p1")
    follower = await world.start_node(topology, "p2", seed=2)
    started = world.clock.monotonic()

    async def waited_for(node: Any) -> tuple[str, float]:
        token = await node.tokens.get()
        return token.fingerprint, world.clock.monotonic() - started

    (first, led), (second, followed) = await asyncio.gather(
        waited_for(leader), waited_for(follower)
    )
    assert first == second
    assert 4.4 <= led <= 4.6  # the leader's callers wait for its run, no longer
    assert led < followed <= led + 1.0  # the follower looks every second, not every 60 s

    other = await start_world(stack, tmp_path / "down", expires_in=DAY)
    other.ims_faults(outage=True)
    topology = other.topology(
        token={"strategy": "scheduled", "schedule_interval": DAY / 2, "wait_timeout": "10s"},
        publishers=[{"id": "p1", "port": 18101}, {"id": "p2", "port": 18102}],
    )
    nodes = [await other.start_node(topology, n) for n in ("p1", "p2")]
    for node in nodes:
        started = other.clock.monotonic()
        with pytest.raises(TokenUnavailable, match=r"^no token has been published yet$"):
            await node.tokens.get()
        assert other.clock.monotonic() - started == pytest.approx(10, abs=0.05)


async def test_a_call_that_fails_after_every_caller_gave_up_leaves_no_unseen_error(
    stack: contextlib.AsyncExitStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    world.ims_faults(latency=10.0, error_rate=1.0)  # every call fails, 10 s after it is made
    node = await world.start_node(world.topology(token={"wait_timeout": "2s"}))
    started = world.clock.monotonic()
    with pytest.raises(TokenUnavailable, match=r"^timed out waiting for a token call$"):
        await node.tokens.get()
    assert world.clock.monotonic() - started == pytest.approx(2, abs=0.05)
    await asyncio.sleep(20)  # the call fails at 10 s, when nobody waits for it any more
    gc.collect()
    assert "never retrieved" not in caplog.text
    # Now backing off for longer than a caller may wait: it is told at once, with the reason.
    await asyncio.sleep(600)
    started = world.clock.monotonic()
    with pytest.raises(TokenUnavailable, match=r"next token call in \d+s \(last error: .*503"):
        await node.tokens.get()
    assert world.clock.monotonic() == started


async def test_a_request_waits_out_a_short_backoff_and_gets_the_next_token(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    await asyncio.sleep(500)  # the clocks have run a while (a backoff is a point in time)
    world.ims_faults(error_rate=1.0)
    node = await world.start_node(world.topology(token={"wait_timeout": "10s"}))
    await asyncio.sleep(0.01)  # the first call failed; the retry is due within 2 s
    assert node.tokens.status().failed_refreshes == 1
    world.ims_faults(error_rate=0.0)
    started = world.clock.monotonic()
    token = await node.tokens.get()  # waits for the retry rather than failing at once
    assert world.clock.monotonic() - started <= 2.0
    assert token.remaining(world.clock.monotonic()) > HOUR - 10
    node.tokens.invalidate(token)
    await node.tokens.get()
    assert node.tokens.status().refresh_count == 2


async def test_a_restarted_node_uses_its_saved_token_and_spreads_an_overdue_refresh(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    first = await world.start_node(world.topology())
    token = await first.tokens.get()
    await first.tokens.close()  # the node stops (its token file stays)
    await asyncio.sleep(1000.25)
    again = await world.start_node(world.topology(), seed=5)
    shown = await token_status(http, again.url)
    assert (shown["restored_from_disk"], shown["token_calls"]) == (True, 0)
    assert shown["fingerprint"] == token.fingerprint
    assert shown["age_seconds"] == pytest.approx(1000.25, abs=0.01)  # its age is kept
    assert shown["seconds_left"] == pytest.approx(HOUR - 1000.25, abs=0.01)
    await again.tokens.close()
    await asyncio.sleep(1500)  # 2500 s old: its refresh (at 1800-2160 s) was due meanwhile
    late = await world.start_node(world.topology(), seed=6)
    shown = await token_status(http, late.url)
    assert (shown["restored_from_disk"], shown["token_calls"]) == (True, 0)
    remaining, margin = HOUR - 2500.25, 300
    # Spread over the first half of what is left before the margin, not all at once.
    assert 0.0 < shown["next_refresh_in"] <= (remaining - margin) / 2


class BrokenFetcher:
    """A token client with a bug: it raises something that is not a RefreshError."""

    async def fetch(self, secret: Secret) -> TokenGrant:
        raise RuntimeError("a bug in the token client")


async def test_a_bug_in_the_token_client_fails_the_call_and_the_refresher_lives_on(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    topology = world.topology(token={"wait_timeout": "10s"})
    provider = await start_provider(
        topology, BrokenFetcher(), keyring=world.keyring, clock=world.clock
    )
    with pytest.raises(TokenUnavailable, match=r"^token call failed: unexpected error$"):
        await provider.get()
    status = provider.status()
    assert (status.failed_refreshes, status.last_refresh_error) == (1, "unexpected RuntimeError")
    await asyncio.sleep(5)
    assert provider.status().failed_refreshes > 1  # it kept trying, with backoff
    await provider.close()


async def test_closing_a_provider_ends_the_wait_of_its_callers(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    world.ims_faults(latency=30.0)
    node = await world.start_node(world.topology(token={"wait_timeout": "60s"}))
    waiting = asyncio.ensure_future(node.tokens.get())
    await asyncio.sleep(1)
    await node.tokens.close()  # the node shuts down while a request waits
    with pytest.raises(TokenUnavailable, match=r"^token provider closed$"):
        await waiting


async def test_closing_right_after_a_wake_up_still_stops_the_refresher(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    # A 401 wakes the refresher in the same loop turn as the node's shutdown cancels it. On
    # Python 3.11, asyncio.wait_for returns the inner result when both happen at once and
    # drops the cancellation (python/cpython#86296): the refresher ran on and close() waited
    # for it for ever (CI: a teardown that timed out after 120 s, about 1 run in 10).
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    node = await world.start_node(world.topology())
    token = await node.tokens.get()
    await asyncio.sleep(60)  # the refresher is asleep until the token's refresh time
    assert node.tokens.invalidate(token)
    loop = asyncio.get_running_loop()
    began = loop.time()
    # A guard in virtual seconds, so a hang ends the test and not CI. Its expiry cancels
    # close(), which cancels the refresher a second time, so close() then returns: what shows
    # the hang is the virtual time close() took, and the token call the refresher made.
    async with asyncio.timeout(HOUR):
        await node.tokens.close()
    assert loop.time() - began < 1
    assert world.tokens_issued == 1  # no call made after the node began to close


class SwallowingCoordinator:
    """A shared store whose client swallows a cancellation once (some do): its first claim()
    hangs until cancelled, then says another node holds the lease, as if nothing had happened.
    (Once only, so that a refresher that goes round again is cancelled there, and the test
    fails on its assertions rather than hanging.)"""

    strategy = "shared"

    def __init__(self) -> None:
        self.claims = 0

    async def load(self) -> None:
        return None

    async def claim(self) -> bool:
        self.claims += 1
        if self.claims > 1:
            await asyncio.sleep(3600)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        return False

    async def publish(self, token: object) -> None: ...

    async def release(self) -> None: ...

    async def discard(self, token: object) -> None: ...

    async def close(self) -> None: ...

    def on_change(self, listener: object) -> None: ...

    def refusing_for(self) -> float:
        return 0.0


async def test_closing_ends_the_refresher_even_when_a_store_swallows_the_cancellation() -> None:
    loop = asyncio.get_running_loop()
    coordinator = SwallowingCoordinator()
    provider = RefreshingTokenProvider(
        fetcher=BrokenFetcher(),
        secrets=[Secret("unused")],
        settings=ProviderSettings(),
        clock=Clock.of_loop(loop, wall_offset=0.0),
        rng=random.Random(1),
        coordinator=coordinator,
    )
    await provider.start()
    await asyncio.sleep(1)  # the refresher is inside claim()
    assert coordinator.claims == 1
    began = loop.time()
    async with asyncio.timeout(HOUR):  # virtual seconds: see the test before
        await provider.close()
    assert loop.time() - began < 1
    assert coordinator.claims == 1  # it did not go round again to claim once more


async def test_a_refresh_is_never_planned_inside_the_mandatory_margin() -> None:
    late = RefreshPolicy(refresh_at=0.99, jitter=0.0, expiry_margin=300.0)
    assert late.refresh_delay(3600, random.Random(1)) == 3600 - 300
    assert RefreshPolicy(refresh_at=0.5, jitter=0.0).refresh_delay(3600, random.Random(1)) == 1800


async def provider_for(
    world: World, endpoint: ScriptedTokenEndpoint, seed: int = 1, **token: object
) -> Any:
    return await start_provider(
        world.topology(token=token), endpoint, keyring=world.keyring, clock=world.clock, seed=seed
    )


async def test_the_age_of_a_refreshed_token_counts_from_its_own_call(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    node = await world.start_node(world.topology())
    first = await node.tokens.get()
    await asyncio.sleep(HOUR * 0.6 + 100)  # refreshed at half-life plus jitter
    second = await node.tokens.get()
    assert second != first
    shown = await token_status(http, node.url)
    assert shown["fingerprint"] == second.fingerprint
    age = world.clock.monotonic() - second.obtained_at
    assert 100 <= age <= HOUR * 0.1 + 100
    assert shown["age_seconds"] == pytest.approx(age, abs=0.01)
    assert shown["seconds_left"] == pytest.approx(HOUR - age, abs=0.01)


async def test_a_request_that_waited_for_a_failed_call_is_told_why(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=HOUR)
    world.ims_faults(outage=True)
    node = await world.start_node(world.topology())
    with pytest.raises(TokenUnavailable, match=r"^token call failed: token endpoint answered 503"):
        await node.tokens.get()


async def test_inside_the_margin_a_request_waits_only_while_a_call_is_out(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """IMS is down and the node retries with backoff: between its calls, a request inside
    the margin gets the still valid token at once, not after the next call."""
    world = await start_world(stack, tmp_path)
    endpoint = ScriptedTokenEndpoint(lifetime=HOUR, latency=1.0)
    provider = await provider_for(world, endpoint, retry={"base": 30, "cap": 60})
    token = await provider.get()
    endpoint.script = [ImsUnavailable("down")] * 1000
    await asyncio.sleep(token.expires_at - 250 - world.clock.monotonic())  # in the margin
    waits = []
    for _ in range(6):
        asked = world.clock.monotonic()
        assert await provider.get() == token
        waits.append(world.clock.monotonic() - asked)
        await asyncio.sleep(7.3)
    assert endpoint.calls > 2  # it kept trying meanwhile
    # A request that came while a call was out waited for it (1 s at most); none waited more.
    assert max(waits) <= 1.0
    assert sum(w == 0 for w in waits) >= 3
    await provider.close()


async def test_after_a_configuration_error_the_recovery_is_logged_once(
    stack: contextlib.AsyncExitStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tokensim_token.refreshing")
    world = await start_world(stack, tmp_path)
    endpoint = ScriptedTokenEndpoint(lifetime=HOUR)
    endpoint.script = [ConfigurationError("invalid_scope", code="invalid_scope")]
    provider = await provider_for(world, endpoint, retry={"config_error_interval": 120})
    await asyncio.sleep(1)
    assert provider.status().configuration_error == "invalid_scope"
    await asyncio.sleep(119.5)  # the next try, at the configured interval, succeeds
    assert endpoint.calls == 2
    assert provider.status().configuration_error is None
    await asyncio.sleep(2 * HOUR)  # and refreshes go on as usual
    assert provider.status().refresh_count >= 3
    lines = [r.getMessage() for r in caplog.records]
    again = [i for i, line in enumerate(lines) if "accepts the credentials again" in line]
    first_token = next(i for i, line in enumerate(lines) if line.startswith("new token"))
    assert again == [first_token - 1]  # once, with the call that recovered
    await provider.close()


async def test_a_scheduled_leader_backs_off_up_to_the_configured_cap(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    endpoint = ScriptedTokenEndpoint(lifetime=HOUR)
    endpoint.script = [ImsUnavailable("down")] * 1000
    provider = await provider_for(
        world,
        endpoint,
        strategy="scheduled",
        schedule_interval=HOUR / 2,
        retry={"base": 2, "cap": 5},
    )
    await asyncio.sleep(300)  # 5 minutes of failures: with a cap of 5 s, 120 calls or more
    assert endpoint.calls >= 100
    assert provider.status().next_refresh_in <= 5
    await provider.close()


async def test_overdue_refreshes_after_restarts_spread_over_the_whole_window(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """Nodes restarted with a saved token whose refresh is overdue plan it anywhere in the
    first half of what is left before the margin: from at once to the end of that window."""
    world = await start_world(stack, tmp_path)
    endpoint = ScriptedTokenEndpoint(lifetime=HOUR)
    first = await provider_for(world, endpoint)
    await first.get()
    await first.close()
    await asyncio.sleep(HOUR - 300 - 8)  # 8 s before the margin: a window of 4 s
    planned = []
    for seed in range(40):
        restarted = await provider_for(world, endpoint, seed=seed)
        assert restarted.status().restored_from_disk
        planned.append(restarted.status().next_refresh_in)
        await restarted.close()
    assert endpoint.calls == 1
    assert min(planned) < 0.4
    assert max(planned) > 3.6
    assert all(0 <= p <= 4 for p in planned)
