"""The replication coordinators' rules, one at a time, with the transport in memory and the
wall clock in the test's hand: which pushes a follower takes, which it refuses, when it may
fetch its own token, what the leader hands out and how its sequence numbers grow.

The same coordinators between real nodes over HTTP are in test_replication.py.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from tokensim_token.coordination import OwnFile
from tokensim_token.errors import ReplicationError
from tokensim_token.keyring import Keyring
from tokensim_token.secrets import Secret
from tokensim_token.store import EncryptedTokenFile, SavedToken

from node.token.replication import (
    FRESHNESS,
    Push,
    ReplicaFollower,
    ReplicationLeader,
    ReplicationSettings,
    open_replicated,
    seal_for_replication,
)

pytestmark = pytest.mark.looptime

NOW = 1_790_000_000.0
DAY = 86_399.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Wire:
    """Pushes go straight to the follower; a pull asks the leader for its current token."""

    def __init__(self) -> None:
        self.followers: dict[str, ReplicaFollower] = {}
        self.leader: ReplicationLeader | None = None
        self.down = False

    async def push(self, follower: str, blob: bytes) -> None:
        if self.down:
            raise ReplicationError(f"{follower}: connection refused")
        await self.followers[follower].receive(blob)

    async def pull(self, leader: str) -> bytes | None:
        if self.down or self.leader is None:
            raise ReplicationError(f"{leader}: connection refused")
        return self.leader.current()


def own(tmp_path: Path, keyring: Keyring, node: str) -> OwnFile:
    return OwnFile(EncryptedTokenFile(tmp_path / f"{node}.token", keyring, owner=node))


def token(name: str, obtained: float, lifetime: float = DAY) -> SavedToken:
    return SavedToken(Secret(name), obtained, lifetime)


def follower(
    tmp_path: Path,
    keyring: Keyring,
    wire: Wire,
    clock: Clock,
    name: str = "p2",
    **settings: object,
) -> ReplicaFollower:
    node = ReplicaFollower(
        own(tmp_path, keyring, name),
        keyring,
        leader="p1",
        transport=wire,
        settings=ReplicationSettings(**settings),  # type: ignore[arg-type]
        margin=lambda lifetime: min(300.0, lifetime / 5),
        wall_clock=clock,
    )
    wire.followers[name] = node
    return node


def leader(
    tmp_path: Path,
    keyring: Keyring,
    wire: Wire,
    clock: Clock,
    followers: tuple[str, ...] = ("p2",),
    **settings: object,
) -> ReplicationLeader:
    node = ReplicationLeader(
        own(tmp_path, keyring, "p1"),
        keyring,
        node_id="p1",
        followers=followers,
        transport=wire,
        settings=ReplicationSettings(**settings),  # type: ignore[arg-type]
        rng=random.Random(1),
        wall_clock=clock,
    )
    wire.leader = node
    return node


def push(keyring: Keyring, saved: SavedToken, seq: int, sent_at: float) -> bytes:
    return seal_for_replication(keyring, "p1", Push(saved, seq, sent_at))


async def test_a_follower_takes_newer_pushes_and_refuses_replays_and_old_news(
    tmp_path: Path,
) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    node = follower(tmp_path, keyring, wire, clock, lag=10.0)
    changes: list[int] = []
    node.on_change(lambda: changes.append(1))
    first, second = token("first", NOW - 5), token("second", NOW)
    assert await node.receive(push(keyring, first, 1, NOW))
    assert (await node.load()) == first
    assert not await node.receive(push(keyring, first, 1, NOW))  # the same push again
    assert await node.receive(push(keyring, second, 2, NOW))
    assert await node.receive(push(keyring, first, 3, NOW))  # a valid push, an older token:
    assert (await node.load()) == second  # not taken
    assert await node.receive(push(keyring, second, 4, NOW))  # the same token, pushed again
    assert len(changes) == 2  # the provider is told of each new token, once
    # Sent longer ago than the lag and the tolerance: refused, as is one from the future.
    clock.now = NOW + 10 + FRESHNESS + 1
    assert not await node.receive(push(keyring, token("late", NOW), 10, NOW))
    assert not await node.receive(push(keyring, token("ahead", NOW), 11, clock.now + FRESHNESS + 1))
    at_edge = token("at the edge", NOW + 1)
    assert await node.receive(push(keyring, at_edge, 12, clock.now - 10 - FRESHNESS))
    assert (await node.load()) == at_edge
    assert await node.receive(push(keyring, token("edge2", NOW + 2), 13, clock.now + FRESHNESS))
    assert not await node.receive(b"garbage")


async def test_a_refused_token_is_never_taken_again_and_a_new_one_is(tmp_path: Path) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    node = follower(tmp_path, keyring, wire, clock)
    changes: list[int] = []
    node.on_change(lambda: changes.append(1))
    refused = token("refused", NOW)
    assert await node.receive(push(keyring, refused, 1, NOW))
    await node.discard(refused)  # Analytics answered 401 with it
    assert await node.receive(push(keyring, refused, 2, NOW))  # pushed again...
    assert await node.load() is None  # ...not taken (and the leader is not reachable)
    assert len(changes) == 1  # and the provider was not told of it again
    newer = token("newer", NOW + 1)
    assert await node.receive(push(keyring, newer, 3, NOW))
    assert (await node.load()) == newer


async def test_a_restarted_follower_uses_its_saved_token_then_asks_the_leader_once(
    tmp_path: Path,
) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    saved = token("saved", NOW - 100)
    await own(tmp_path, keyring, "p2").publish(saved)
    node = follower(tmp_path, keyring, wire, clock)
    assert (await node.load()) == saved  # from its own file: no question to the leader
    empty = follower(tmp_path / "new", keyring, wire, clock)
    head = leader(tmp_path, keyring, wire, clock)
    current = token("leader's", NOW - 10)
    assert await head.load() is None
    await head.publish(current)
    await asyncio.sleep(0)  # the push to p2 is on its way; the new instance asks for itself
    wire.followers.clear()
    assert (await empty.load()) == current


async def test_the_leader_hands_out_its_current_token_sealed_with_rising_numbers(
    tmp_path: Path,
) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    head = leader(tmp_path, keyring, wire, clock)
    assert head.current() is None
    saved = token("from disk", NOW - 50)
    await own(tmp_path, keyring, "p1").publish(saved)
    assert (await head.load()) == saved  # after a restart: its own file is its current token
    first = open_replicated(keyring, "p1", head.current() or b"")
    second = open_replicated(keyring, "p1", head.current() or b"")
    assert first.token == saved
    assert first.seq == int(NOW * 1000)  # the wall clock in milliseconds...
    assert second.seq == first.seq + 1  # ...and never the same twice, within one millisecond
    clock.now = NOW + 2.5
    third = open_replicated(keyring, "p1", head.current() or b"")
    assert third.seq == int((NOW + 2.5) * 1000)
    assert third.sent_at == NOW + 2.5
    newer = token("newer", NOW + 2)
    await own(tmp_path, keyring, "p1").publish(newer)
    assert (await head.load()) == newer  # what its file holds...
    assert open_replicated(keyring, "p1", head.current() or b"").token == saved  # ...not current


async def test_a_follower_fetches_its_own_only_as_the_fallback_and_after_the_grace(
    tmp_path: Path,
) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    waiting = follower(tmp_path / "wait", keyring, wire, clock, fallback="wait")
    assert not await waiting.claim()  # "wait": never
    node = follower(tmp_path, keyring, wire, clock, leader_grace=10.0)
    head = leader(tmp_path, keyring, wire, clock)
    assert await node.load() is None  # the leader answers, with no token yet
    assert not await node.claim()  # it is getting one: give it the grace
    clock.now = NOW + 9.9
    assert not await node.claim()
    clock.now = NOW + 10
    assert await node.claim()  # the grace is over
    await head.publish(token("leader's", clock.now))
    await asyncio.sleep(0)
    assert not await node.claim()  # a usable token was pushed
    clock.now += DAY - 300  # it reached its margin with nothing newer
    assert await node.claim()
    wire.down = True
    gone = follower(tmp_path / "gone", keyring, wire, clock, leader_grace=10.0)
    assert await gone.load() is None  # the leader does not answer at all
    assert not await gone.claim()
    clock.now += 10
    assert await gone.claim()


async def test_pushes_are_lost_at_the_configured_rate_and_delayed_by_the_lag(
    tmp_path: Path,
) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    node = follower(tmp_path, keyring, wire, clock, lag=0.5)
    follower(tmp_path, keyring, wire, clock, "p3", lag=0.5)
    head = leader(tmp_path, keyring, wire, clock, ("p2", "p3"), lag=0.5)
    loop = asyncio.get_running_loop()
    arrived: list[float] = []
    node.on_change(lambda: arrived.append(loop.time()))
    sent = loop.time()
    await head.publish(token("one", NOW))
    await asyncio.sleep(1)
    assert [round(t - sent, 1) for t in arrived] == [0.5]  # after the lag, not before
    assert (await node.load()) == token("one", NOW)
    assert head.pushes == {"sent": 2, "delivered": 2}
    lossy = leader(tmp_path / "lossy", keyring, wire, clock, ("p2", "p3"), loss=1.0)
    await lossy.publish(token("two", NOW + 1))
    assert lossy.pushes == {"sent": 2, "lost": 2}  # each push lost on its own
    slow = leader(tmp_path / "slow", keyring, wire, clock, lag=5.0)
    await slow.publish(token("late", NOW + 3))
    await slow.close()  # with a push still waiting out its lag: cancelled, and awaited
    pending = [t for t in asyncio.all_tasks() if "_deliver" in repr(t.get_coro())]
    assert pending == []
    assert slow.pushes == {"sent": 1}
    never = leader(tmp_path / "never", keyring, wire, clock, ("p2", "p3"), loss=0.0)
    wire.down = True
    await never.publish(token("three", NOW + 2))
    await asyncio.sleep(0)
    assert never.pushes == {"sent": 2, "failed": 2}
    await never.close()


@pytest.mark.parametrize("seq", [0, -1])
async def test_a_first_push_needs_a_positive_sequence_number(tmp_path: Path, seq: int) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    node = follower(tmp_path, keyring, wire, clock)
    assert not await node.receive(push(keyring, token("t", NOW), seq, NOW))


async def test_a_token_fetched_by_fallback_is_kept_and_a_refused_one_forgotten(
    tmp_path: Path,
) -> None:
    keyring, wire, clock = Keyring.generate(), Wire(), Clock()
    node = follower(tmp_path, keyring, wire, clock)
    own_token = token("fetched by the fallback", NOW)
    await node.publish(own_token)
    assert (await node.load()) == own_token
    assert (await own(tmp_path, keyring, "p2").load()) == own_token  # kept for a restart
    await node.discard(token("some other token", NOW))  # not the one in use: still forgotten
    assert await own(tmp_path, keyring, "p2").load() is None
    head = leader(tmp_path, keyring, wire, clock)
    await head.publish(token("leader's", NOW))
    await head.discard(token("leader's", NOW))  # Analytics refused it
    assert await own(tmp_path, keyring, "p1").load() is None
    assert (await head.load()) is None
