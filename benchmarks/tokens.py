"""The token cache: what getting a cached token costs, and what a stampede costs IMS.

Both use the node's real token code (``build_provider``: the providers, coordinators, sealed
files and the IMS client) against the simulated IMS running as its own process; only the
three "nodes" share this one process, so that N requests can arrive at exactly the same time.

* Hot path: ``await provider.get()`` with a valid token, ns per call, against reading a
  plain attribute in the same loop.
* Stampede: N requests arrive at 3 nodes that have no token (they have just started); the
  token calls IMS saw, and how long the first request waited. ``naive`` (one call per request
  that finds no token) is the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from tokensim_token import Keyring
from tokensim_token.client import ClientCredentialsClient
from tokensim_token.provider import TokenProvider
from tokensim_token.secrets import Secret

from benchmarks.figures import Figure
from benchmarks.processes import json_at, process
from core.topology import Topology
from harness.estate.processes import free_ports
from node.token.strategies import TokenDeps, build_provider

SECRET_ENV = "TOKENSIM_BENCH_SECRET"  # noqa: S105 (the name of a variable, not a secret)
NODES = ("p1", "p2", "p3")
STAMPEDE_SIZES = (10, 100, 1000, 10_000)
HOT_PATH_CALLS = 200_000


def topology_data(state: Path, ims_port: int, strategy: str) -> dict[str, Any]:
    return {
        "ims": {
            "token_url": f"http://127.0.0.1:{ims_port}/ims/token/v3",
            "client_id": "bench-client",
            "client_secret_env": SECRET_ENV,
            "scope": "openid,AdobeID,read_organizations",
        },
        "analytics": {"base_url": "http://127.0.0.1:9", "company_id": "b", "rsid": "b"},
        "token": {"strategy": strategy, "state_dir": str(state / "token"), "wait_timeout": 60},
        "publishers": [{"id": n, "port": 30100 + i} for i, n in enumerate(NODES, start=1)],
        "simulation": {"state_dir": str(state / "sim"), "ims": {"port": ims_port}},
    }


def run() -> tuple[list[Figure], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (ims_port,) = free_ports(1)
        path = work / "topology.yaml"
        path.write_text(yaml.safe_dump(topology_data(work, ims_port, "per-node")))
        env = {**os.environ, SECRET_ENV: os.urandom(16).hex()}
        command = [sys.executable, "-m", "upstream.ims", "--topology", str(path)]
        with process(command, f"http://127.0.0.1:{ims_port}/health", env):
            return asyncio.run(_measure(work, ims_port, env[SECRET_ENV]))


async def _measure(work: Path, ims_port: int, secret: str) -> tuple[list[Figure], dict[str, Any]]:
    raw: dict[str, Any] = {"stampede": []}
    figures: list[Figure] = []
    outcomes: dict[tuple[str, int], dict[str, float]] = {}
    for size in STAMPEDE_SIZES:
        for strategy in ("naive", "per-node", "shared"):
            state = work / f"{strategy}-{size}"
            topology = Topology.from_dict(topology_data(state, ims_port, strategy))
            outcome = await _stampede(topology, ims_port, secret, size)
            outcomes[strategy, size] = outcome
            raw["stampede"].append({"strategy": strategy, "requests": size, **outcome})
    for size in STAMPEDE_SIZES:
        naive = outcomes["naive", size]
        for strategy, allowed in (("per-node", len(NODES)), ("shared", 1)):
            outcome = outcomes[strategy, size]
            figures.append(
                Figure(
                    "stampede",
                    f"{size:,} requests at 3 nodes with no token, {strategy}: token calls",
                    outcome["token_calls"],
                    "calls",
                    "naive",
                    naive["token_calls"],
                    f"<= {allowed} ({'1 per node' if allowed > 1 else '1 per cluster'})",
                    outcome["token_calls"] <= allowed and outcome["failed"] == 0,
                    f"first response after {outcome['first_ms']:.1f} ms, all after "
                    f"{outcome['all_ms']:.0f} ms (naive: {naive['first_ms']:.1f} / "
                    f"{naive['all_ms']:.0f} ms); {outcome['failed']:.0f} failed",
                )
            )
    hot = await _hot_path(work / "hot", ims_port, secret)
    raw["hot_path"] = hot
    figures.insert(
        0,
        Figure(
            "token",
            "cached token: await provider.get()",
            hot["get_ns"],
            "ns/call",
            "plain attribute read",
            hot["attribute_ns"],
            "< 2,000 ns",
            hot["get_ns"] < 2000,
            f"an await of a coroutine that returns at once: {hot['coroutine_ns']:.0f} ns",
        ),
    )
    return figures, raw


@contextlib.asynccontextmanager
async def _providers(
    topology: Topology, secret: str, session: aiohttp.ClientSession
) -> AsyncIterator[list[TokenProvider]]:
    keyring = Keyring.generate()  # one cluster keyring, as the shared store needs
    providers = []
    try:
        for i, node_id in enumerate(NODES):
            deps = TokenDeps(secrets=(Secret(secret),), keyring=keyring, rng=random.Random(i))
            fetcher = ClientCredentialsClient(
                session,
                token_url=topology.ims.token_url,
                client_id=topology.ims.client_id,
                scope=topology.ims.scope,
                timeout=30,
                user_agent=f"tokensim-node/{node_id}",
                wall_clock=deps.clock.wall,
            )
            providers.append(build_provider(topology, node_id, deps, fetcher).provider)
        yield providers
    finally:
        for provider in providers:
            await provider.close()


async def _stampede(topology: Topology, ims_port: int, secret: str, size: int) -> dict[str, float]:
    before = _issued(ims_port)
    connector = aiohttp.TCPConnector(limit=100)  # the node's own limit towards IMS
    first: list[float] = []
    failed = 0

    async def request(provider: TokenProvider) -> None:
        nonlocal failed
        try:
            await provider.get()
        except Exception:  # a failed request is counted, not raised
            failed += 1
            return
        if not first:
            first.append(time.perf_counter())

    async with (
        aiohttp.ClientSession(connector=connector) as session,
        _providers(topology, secret, session) as providers,
    ):
        # The nodes start and the requests arrive at the same moment: none has a token.
        started = time.perf_counter()
        await asyncio.gather(
            *(provider.start() for provider in providers),
            *(request(providers[i % len(NODES)]) for i in range(size)),
        )
        ended = time.perf_counter()
    return {
        "token_calls": _issued(ims_port) - before,
        "first_ms": ((first[0] if first else ended) - started) * 1000,
        "all_ms": (ended - started) * 1000,
        "failed": failed,
    }


async def _hot_path(state: Path, ims_port: int, secret: str) -> dict[str, float]:
    topology = Topology.from_dict(topology_data(state, ims_port, "per-node"))
    async with (
        aiohttp.ClientSession() as session,
        _providers(topology, secret, session) as providers,
    ):
        provider = providers[0]
        await provider.start()
        await provider.get()

        class Holder:
            def __init__(self) -> None:
                self.token = 1

        holder = Holder()

        async def returns_at_once() -> int:
            return holder.token

        def per_call(seconds: float) -> float:
            return seconds / HOT_PATH_CALLS * 1e9

        t0 = time.perf_counter()
        for _ in range(HOT_PATH_CALLS):
            await provider.get()
        t1 = time.perf_counter()
        for _ in range(HOT_PATH_CALLS):
            holder.token  # noqa: B018 (the read is what is measured)
        t2 = time.perf_counter()
        for _ in range(HOT_PATH_CALLS):
            await returns_at_once()
        t3 = time.perf_counter()
        loop = per_call(_empty_loop())
    return {
        "get_ns": per_call(t1 - t0) - loop,
        "attribute_ns": max(per_call(t2 - t1) - loop, 1.0),
        "coroutine_ns": per_call(t3 - t2) - loop,
        "empty_loop_ns": loop,
    }


def _empty_loop() -> float:
    t0 = time.perf_counter()
    for _ in range(HOT_PATH_CALLS):
        pass
    return time.perf_counter() - t0


def _issued(ims_port: int) -> float:
    stats = json_at(f"http://127.0.0.1:{ims_port}/admin/stats")
    return float(sum(stats["issued_by_caller"].values()))
