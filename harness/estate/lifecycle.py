"""``python -m harness lifecycle``: one publisher serving pages across several token lifetimes.

Starts the simulated IMS and Analytics and publisher p1 from topology.yaml, polls the node
like a browser would, restarts it half-way (it must reuse its sealed token: no token call),
and ends with a verdict: every request served, pages in order, token calls near the minimum.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from core.topology import Topology
from harness.estate.processes import child_environment, services_of
from harness.estate.supervisor import Supervisor

POLL_INTERVAL = 1.0


@dataclass
class LifecycleTally:
    requests: int = 0
    errors: int = 0
    stale: int = 0
    out_of_order: int = 0
    fingerprints: list[str] = field(default_factory=list)


async def lifecycle(
    topology: Topology,
    topology_path: Path,
    *,
    lifetimes: float,
    node_id: str,
    log_level: str = "INFO",
) -> int:
    lifetime = topology.simulation.ims.expires_in
    duration = lifetime * lifetimes
    (Path(topology.token.state_dir) / "nodes" / f"{node_id}.token").unlink(missing_ok=True)
    specs = services_of(topology, topology_path, {"ims", "analytics", node_id}, log_level=log_level)
    env, _ = child_environment(topology, os.environ)
    supervisor = Supervisor(env, log=None)
    node, ims = supervisor_urls(specs, node_id)
    print(
        f"tokensim lifecycle: {node_id} for {lifetimes:g} token lifetimes of {lifetime}s "
        f"({duration:.0f}s), restart half-way\n",
        flush=True,
    )
    tally = LifecycleTally()
    try:
        await supervisor.start_all(specs)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            restart_at = duration * 0.45
            calls_before_restart = calls_after_restart = 0
            started = time.monotonic()
            print(
                f"{'t':>5}  {'status':>6}  {'token':>8}  {'left':>5}  {'calls':>5}  "
                f"{'stale':>5}  top page",
                flush=True,
            )
            while (elapsed := time.monotonic() - started) < duration:
                if restart_at and elapsed >= restart_at:
                    restart_at = 0
                    calls_before_restart = await token_calls(http, ims)
                    await supervisor.stop(node_id)
                    await supervisor.start(specs[-1])
                    await supervisor.wait_healthy([node_id])
                    calls_after_restart = await token_calls(http, ims)
                    print(
                        f"{elapsed:5.0f}  -- {node_id} restarted: token calls "
                        f"{calls_before_restart} -> {calls_after_restart}",
                        flush=True,
                    )
                await poll(http, node, ims, elapsed, tally)
                await asyncio.sleep(POLL_INTERVAL)
            issued = await token_calls(http, ims)
    finally:
        await supervisor.stop_all()
    return verdict(
        tally,
        issued,
        duration,
        lifetime,
        topology,
        restart_calls=calls_after_restart - calls_before_restart,
    )


def supervisor_urls(specs: list[Any], node_id: str) -> tuple[str, str]:
    by_id = {s.id: s.url for s in specs}
    return by_id[node_id], by_id["ims"]


async def token_calls(http: aiohttp.ClientSession, ims: str) -> int:
    async with http.get(f"{ims}/admin/stats") as response:
        return int((await response.json())["tokens_issued"])


async def poll(
    http: aiohttp.ClientSession, node: str, ims: str, elapsed: float, tally: LifecycleTally
) -> None:
    tally.requests += 1
    try:
        async with http.get(f"{node}/api/top-pages") as response:
            status, body = response.status, await response.json()
        async with http.get(f"{node}/status") as response:
            token = (await response.json())["token"]
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.errors += 1
        print(f"{elapsed:5.0f}  error: {type(exc).__name__}", flush=True)
        return
    if status != 200:
        tally.errors += 1
        print(f"{elapsed:5.0f}  {status:>6}", flush=True)
        return
    visits = [p["visits"] for p in body["pages"]]
    tally.out_of_order += visits != sorted(visits, reverse=True)
    tally.stale += bool(body["stale"])
    fp = token["fingerprint"] or "-"
    if not tally.fingerprints or tally.fingerprints[-1] != fp:
        tally.fingerprints.append(fp)
    top = body["pages"][0] if body["pages"] else {"page": "-", "visits": 0}
    print(
        f"{elapsed:5.0f}  {status:>6}  {fp:>8}  {token['seconds_left'] or 0:5.0f}  "
        f"{await token_calls(http, ims):>5}  {body['stale']!s:>5}  "
        f"{top['page']} ({top['visits']:,})",
        flush=True,
    )


def verdict(
    tally: LifecycleTally,
    issued: int,
    duration: float,
    lifetime: int,
    topology: Topology,
    *,
    restart_calls: int,
) -> int:
    minimum = math.ceil(duration / lifetime)
    per_cycle = topology.token.refresh_at + topology.token.refresh_jitter / 2
    expected = 1 + math.floor(duration / (lifetime * per_cycle))
    checks = [
        (f"{tally.requests} requests, {tally.errors} errors", tally.errors == 0),
        (
            f"pages in descending order in every reply ({tally.out_of_order} not)",
            tally.out_of_order == 0,
        ),
        (
            f"{issued} token calls for {duration:.0f}s: minimum {minimum} (one per lifetime), "
            f"about {expected} expected refreshing at {per_cycle:.0%} of the lifetime",
            minimum <= issued <= expected + 2,
        ),
        (
            f"{restart_calls} token calls when the node restarted with a valid saved token",
            restart_calls == 0,
        ),
        (f"{len(tally.fingerprints)} distinct tokens seen in /status (fingerprints only)", True),
    ]
    print()
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1
