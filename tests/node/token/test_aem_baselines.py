"""What AEM teams run today, as the harness models them: AEM's own IMS integration
(``on-expiry``: a token per instance in memory, fetched again once expired, one call at a time)
and a scheduler on every publisher (``node-scheduler``: a new token every interval, in memory).
Against the simulated IMS, in virtual time."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.support.world import DAY, start_world

pytestmark = pytest.mark.looptime


async def test_aems_provider_reuses_its_token_until_expiry_then_one_call_for_all(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    world.ims_faults(latency=0.5)
    node = await world.start_node(world.topology(token={"strategy": "on-expiry"}))
    assert world.tokens_issued == 1  # at start
    await asyncio.sleep(DAY - 60)
    await asyncio.gather(*(node.tokens.get() for _ in range(20)))
    assert world.tokens_issued == 1  # no refresh ahead of expiry: reused to its last minute
    await asyncio.sleep(61)
    tokens = await asyncio.gather(*(node.tokens.get() for _ in range(20)))
    assert world.tokens_issued == 2  # expired: twenty callers, one call
    assert world.ims_stats.peak_in_flight == 1
    assert len({t.fingerprint for t in tokens}) == 1
    assert node.tokens.invalidate(tokens[0])  # a 401: only that token goes
    await node.tokens.get()
    assert world.tokens_issued == 3
    assert node.tokens.status().strategy == "on-expiry"


async def test_aems_provider_keeps_nothing_across_a_restart(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    topology = world.topology(token={"strategy": "on-expiry"})
    first = await world.start_node(topology)
    await first.tokens.close()
    await world.start_node(topology)
    assert world.tokens_issued == 2  # per-node would restore its sealed file: 1
    assert not (Path(topology.token.state_dir) / "nodes" / "p1.token").exists()


async def test_a_scheduler_on_every_node_calls_every_interval_whatever_the_lifetime(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path, expires_in=DAY)
    node = await world.start_node(
        world.topology(token={"strategy": "node-scheduler", "schedule_interval": "1h"})
    )
    await asyncio.sleep(DAY + 60)
    assert world.tokens_issued == 1 + 24  # at start, then hourly: 24 a day
    assert node.tokens.status().strategy == "node-scheduler"
    await node.tokens.close()
    restarted = await world.start_node(
        world.topology(token={"strategy": "node-scheduler", "schedule_interval": "1h"})
    )
    await restarted.tokens.get()
    assert world.tokens_issued == 26  # in memory: a restart fetches anew
    await restarted.tokens.close()
