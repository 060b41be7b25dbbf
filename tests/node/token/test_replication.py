"""The ``replicated`` strategy in virtual time: real nodes pushing sealed tokens over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tokensim_token import Keyring, SavedToken, TokenUnavailable
from tokensim_token.secrets import Secret

from core.topology import Topology
from harness.estate.processes import free_ports
from lb.dispatcher.filters import PathFilter
from node.replication_http import FOLLOWER, LEADER, PATH
from node.token.replication import Push, seal_for_replication
from tests.support.world import DAY, Node, World, start_world

pytestmark = pytest.mark.looptime

NODES = ("p1", "p2", "p3")
STEP = 60.0  # the tests look at every node once a virtual minute


def replicated(world: World, **replication: Any) -> Topology:
    ports = free_ports(len(NODES))
    return world.topology(
        token={"strategy": "replicated", "peer_poll": 30, "replication": replication},
        publishers=[{"id": n, "port": p} for n, p in zip(NODES, ports, strict=True)],
    )


async def start_cluster(world: World, topology: Topology) -> list[Node]:
    """The leader first (with its token), then the followers, which sync from it."""
    nodes = []
    for seed, node_id in enumerate(NODES, start=1):
        node = await world.start_node(
            topology, node_id, seed=seed, port=topology.publisher(node_id).port
        )
        await node.tokens.get()
        nodes.append(node)
    return nodes


async def fingerprint_changes(nodes: list[Node], lifetimes: float) -> dict[str, list[float]]:
    """When each node's token changed, sampled every STEP seconds."""
    loop = asyncio.get_running_loop()
    last: dict[str, str] = {}
    changes: dict[str, list[float]] = {n: [] for n in NODES}
    for _ in range(int(lifetimes * DAY / STEP)):
        for node_id, node in zip(NODES, nodes, strict=True):
            fingerprint = (await node.tokens.get()).fingerprint
            if node_id in last and fingerprint != last[node_id]:
                changes[node_id].append(loop.time())
            last[node_id] = fingerprint
        await asyncio.sleep(STEP)
    return changes


async def test_only_the_leader_calls_and_followers_adopt_each_push_after_the_lag(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    lag = 600.0
    nodes = await start_cluster(world, replicated(world, lag=lag, loss=0.0))
    assert world.tokens_issued == 1  # the followers synced the leader's token at start
    changes = await fingerprint_changes(nodes, lifetimes=3)
    assert set(world.ims_stats.issued_by_caller) == {"p1"}
    leader_changes = changes["p1"]
    assert 4 <= len(leader_changes) <= 6  # refreshed at half-life (+ jitter), three lifetimes
    for follower in ("p2", "p3"):
        assert len(changes[follower]) == len(leader_changes)
        for led, followed in zip(leader_changes, changes[follower], strict=True):
            assert lag - STEP <= followed - led <= lag + 2 * STEP  # the configured lag, no more


@pytest.mark.long
async def test_lost_pushes_with_fallback_fetch_make_followers_fetch_their_own(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    nodes = await start_cluster(world, replicated(world, loss=1.0, fallback="fetch"))
    await fingerprint_changes(nodes, lifetimes=3)  # every get() succeeded, or this raised
    issued = world.ims_stats.issued_by_caller
    assert 2 <= issued["p2"] <= 4
    assert 2 <= issued["p3"] <= 4
    pushes = nodes[0].app[LEADER].pushes
    assert pushes["sent"] > 0
    assert pushes["lost"] == pushes["sent"]


async def test_a_follower_with_a_usable_token_does_not_look_again_until_its_margin(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """Past its half-life, a follower's token is the leader's to replace: nothing but a push
    can change what it holds until the margin, so it does not ask every peer_poll (30 s here:
    about 1,000 looks in those nine hours). At the margin it fetches its own, as told."""
    world = await start_world(stack, tmp_path, expires_in=DAY)
    nodes = await start_cluster(world, replicated(world, loss=1.0, fallback="fetch"))
    follower = nodes[1].app[FOLLOWER]
    claims = 0
    claim = follower.claim

    async def counted() -> bool:
        nonlocal claims
        claims += 1
        return await claim()

    follower.claim = counted  # type: ignore[method-assign]
    await asyncio.sleep(0.95 * DAY)  # past the refresh point (0.5-0.6 of the lifetime)
    assert claims <= 2
    assert "p2" not in world.ims_stats.issued_by_caller
    await asyncio.sleep(0.05 * DAY)  # through the margin (the last 300 s) and the expiry
    assert world.ims_stats.issued_by_caller["p2"] == 1
    assert (await nodes[1].tokens.get()).remaining(world.clock.monotonic()) > DAY / 2


async def test_lost_pushes_with_fallback_wait_leave_followers_without_a_token(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = replicated(world, loss=1.0, fallback="wait")
    topology = topology.model_copy(
        update={"token": topology.token.model_copy(update={"wait_timeout": 1.0})}
    )
    nodes = await start_cluster(world, topology)
    await asyncio.sleep(1.01 * DAY)  # past the synced token's expiry; every push was lost
    for follower in nodes[1:]:
        with pytest.raises(TokenUnavailable):
            await follower.tokens.get()
    await nodes[0].tokens.get()  # the leader is fine
    assert set(world.ims_stats.issued_by_caller) == {"p1"}  # the followers waited, as told


@pytest.mark.long
async def test_the_loss_rate_applies_to_each_push(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    nodes = await start_cluster(world, replicated(world, loss=0.5))
    for _ in range(10 * 24):  # ten lifetimes, a look every hour
        await asyncio.gather(*(n.tokens.get() for n in nodes))
        await asyncio.sleep(DAY / 24)
    pushes = nodes[0].app[LEADER].pushes
    assert pushes["sent"] >= 30
    assert 0.25 <= pushes["lost"] / pushes["sent"] <= 0.75
    # Every push not lost was delivered, except the leader's first, made before the followers
    # had started (connection refused, counted as failed).
    assert pushes["failed"] <= 2, pushes
    assert pushes["delivered"] + pushes["failed"] == pushes["sent"] - pushes["lost"], pushes


async def test_a_push_not_sealed_with_the_cluster_keys_is_refused(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    nodes = await start_cluster(world, replicated(world))
    before = (await nodes[1].tokens.get()).fingerprint
    later = world.clock.wall() + 10
    push = Push(SavedToken(Secret("forged-token"), later, DAY), 2**60, later)
    forged = seal_for_replication(Keyring.generate(), "p1", push)
    async with http.put(nodes[1].url + PATH, data=forged) as response:
        assert response.status == 400
    async with http.put(nodes[1].url + PATH, data=b"not even sealed") as response:
        assert response.status == 400
    assert (await nodes[1].tokens.get()).fingerprint == before
    # Between publishers only: the dispatcher's default allow-list never lets it through.
    allow = world.topology().dispatcher.allow
    assert not PathFilter(allow).allows(PATH)


async def test_a_captured_push_cannot_be_replayed(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = replicated(world)
    nodes = await start_cluster(world, topology)
    keyring = world.keyring  # what the cluster seals with (an attacker can only copy blobs)
    token = SavedToken(Secret("an-old-token"), world.clock.wall(), DAY)
    now = world.clock.wall()
    captured = seal_for_replication(keyring, "p1", Push(token, int(now * 1000), now))
    async with http.put(nodes[1].url + PATH, data=captured) as response:
        assert response.status == 204  # delivered in time: taken
    async with http.put(nodes[1].url + PATH, data=captured) as response:
        assert response.status == 400  # the same push again: not after the last one
    # Hours later, to a follower that has never taken a push (its memory is empty, as after
    # a restart with an empty disk), the captured push is stale.
    await asyncio.sleep(3600)
    async with http.put(nodes[2].url + PATH, data=captured) as response:
        assert response.status == 400
    # A blob sealed as another node's push is not the leader's.
    fresh = world.clock.wall()
    as_p3 = seal_for_replication(keyring, "p3", Push(token, int(fresh * 1000), fresh))
    async with http.put(nodes[1].url + PATH, data=as_p3) as response:
        assert response.status == 400
    assert (await nodes[2].tokens.get()).value.reveal() != "an-old-token"


async def test_hostile_bodies_on_the_replication_port_are_a_400_not_a_crash(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    nodes = await start_cluster(world, replicated(world))
    before = (await nodes[1].tokens.get()).fingerprint
    for body in (b"[" * 60_000, b"{" * 60_000, bytes(range(256)) * 100, b"", b"null", b"[]"):
        async with http.put(nodes[1].url + PATH, data=body) as response:
            assert response.status == 400, body[:10]
    async with http.put(nodes[1].url + PATH, data=b"[" * 200_000) as response:
        assert response.status == 413  # over the 64 KB a sealed token can be
    assert (await nodes[1].tokens.get()).fingerprint == before


async def test_at_a_cold_start_followers_wait_for_the_leader_instead_of_calling_ims(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    world.ims_faults(latency=2.0)  # the leader's first token takes a while
    topology = replicated(world, lag=0.0, loss=0.0)
    nodes = [
        await world.start_node(topology, n, seed=i, port=topology.publisher(n).port)
        for i, n in enumerate(NODES, start=1)
    ]
    # Every node has requests waiting for a token at once; none has one yet.
    tokens = await asyncio.gather(*(node.tokens.get() for node in nodes))
    assert dict(world.ims_stats.issued_by_caller) == {"p1": 1}
    assert len({t.fingerprint for t in tokens}) == 1  # the followers got the leader's


async def test_followers_that_start_before_the_leader_answers_wait_for_it(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """The estate starts its publishers together: a follower may ask the leader before the
    leader listens. It waits the grace for it, as for a leader still getting its token."""
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = replicated(world, lag=0.0, loss=0.0)
    followers = [
        await world.start_node(topology, n, seed=i, port=topology.publisher(n).port)
        for i, n in enumerate(NODES[1:], start=2)
    ]
    waiting = [asyncio.ensure_future(node.tokens.get()) for node in followers]
    await asyncio.sleep(0.5)  # the followers asked p1, which is not listening yet
    leader = await world.start_node(topology, "p1", seed=1, port=topology.publisher("p1").port)
    tokens = await asyncio.gather(leader.tokens.get(), *waiting)
    assert dict(world.ims_stats.issued_by_caller) == {"p1": 1}
    assert len({t.fingerprint for t in tokens}) == 1


@pytest.mark.looptime(False)  # real time: the pulls to a leader that is not there are real I/O
async def test_a_follower_whose_leader_is_not_up_fetches_its_own_within_the_wait(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    ports = free_ports(len(NODES))
    topology = world.topology(
        token={"strategy": "replicated", "wait_timeout": "4s"},  # peer_poll: 1 s, the default
        publishers=[{"id": n, "port": p} for n, p in zip(NODES, ports, strict=True)],
    )
    follower = await world.start_node(topology, "p2", port=topology.publisher("p2").port)
    started = world.clock.monotonic()
    token = await follower.tokens.get()  # p1, the leader, never started
    waited = world.clock.monotonic() - started
    # It gives the leader half the wait (2 s) to answer, then fetches its own: the request
    # that waited gets that token, inside its 4 s.
    assert 2.0 <= waited <= 3.0
    assert world.ims_stats.issued_by_caller == {"p2": 1}
    assert token.remaining(world.clock.monotonic()) > DAY - 10
