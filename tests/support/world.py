"""The simulated outside world for tests: IMS and Analytics as real aiohttp servers on port 0,
the topology that points at them, nodes started in this process, and scripted token
endpoints. Everything runs on the test's event loop; the clock is the loop's, so tests marked
``@pytest.mark.looptime`` run 24 h token lifetimes in milliseconds of real time, and the
simulated IMS, Analytics and the node all agree on what time it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from tokensim_token import Keyring, RefreshError, SharedStore, TokenFetcher
from tokensim_token.clock import Clock
from tokensim_token.model import TokenGrant
from tokensim_token.secrets import Secret

from core.service import app_runner
from core.topology import LatencyConfig, RateLimitConfig, Topology
from node.app import NodeDeps, create_app
from node.appkeys import TOKENS
from node.token.strategies import TokenDeps, build_provider
from upstream.analytics.app import STATS as ANALYTICS_STATS
from upstream.analytics.app import AnalyticsDeps
from upstream.analytics.app import create_app as create_analytics
from upstream.analytics.traffic import TrafficModel
from upstream.analytics.verify import TokenVerifier
from upstream.ims.app import FAULTS as IMS_FAULTS
from upstream.ims.app import STATS as IMS_STATS
from upstream.ims.app import ImsDeps
from upstream.ims.app import create_app as create_ims
from upstream.ims.keys import ImsKeys

WALL_EPOCH = 1_790_000_000.0  # 2026-09-21: the wall clock reads WALL_EPOCH + loop.time()
CLIENT_ID = "test-client"
GOOD_SECRET = "s3cret-good-value"
DAY = 86_399
REDIS_PASSWORD = "test-redis-password"


def topology_dict(state: Path, ims_url: str, analytics_url: str, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ims": {
            "token_url": f"{ims_url}/ims/token/v3",
            "client_id": CLIENT_ID,
            "client_secret_env": ["TEST_SECRET"],
            "scope": "openid,AdobeID,read_organizations",
        },
        "analytics": {
            "base_url": analytics_url,
            "company_id": "testco",
            "rsid": "test.rsid",
            "top": 10,
            "report_refresh": 1800,
        },
        "token": {
            "state_dir": str(state / "token"),
            "retry": {"base": 1, "cap": 60, "config_error_interval": 300},
        },
        "publishers": [{"id": "p1", "port": 18101}, {"id": "p2", "port": 18102}],
        "simulation": {"state_dir": str(state / "sim")},
    }
    for name, value in sections.items():
        data[name] = {**data.get(name, {}), **value} if isinstance(value, dict) else value
    return data


async def serve(stack: contextlib.AsyncExitStack, app: web.Application, port: int = 0) -> str:
    runner = app_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048)
    await site.start()
    stack.push_async_callback(runner.cleanup)
    server = site._server
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class World:
    """The simulated IMS and Analytics, running, with the topology that points at them."""

    stack: contextlib.AsyncExitStack
    tmp: Path
    clock: Clock
    ims: web.Application
    analytics: web.Application
    ims_url: str
    analytics_url: str
    keys: ImsKeys

    def topology(self, **sections: Any) -> Topology:
        return Topology.from_dict(
            topology_dict(self.tmp, self.ims_url, self.analytics_url, **sections)
        )

    @property
    def ims_stats(self) -> Any:
        return self.ims[IMS_STATS]

    @property
    def analytics_stats(self) -> Any:
        return self.analytics[ANALYTICS_STATS]

    def ims_faults(self, **changes: Any) -> None:
        self.ims[IMS_FAULTS].update(changes)

    @property
    def tokens_issued(self) -> int:
        return sum(self.ims_stats.issued_by_caller.values())

    async def start_node(
        self,
        topology: Topology,
        node_id: str = "p1",
        *,
        secrets: tuple[str, ...] = (GOOD_SECRET,),
        keyring: Keyring | None = None,
        seed: int = 1,
        port: int = 0,
    ) -> Node:
        deps = NodeDeps(
            secrets=tuple(Secret(s) for s in secrets),
            keyring=keyring or self.keyring,
            clock=self.clock,
            rng=random.Random(seed),
            store_password=Secret(REDIS_PASSWORD),  # used only by a Redis store
        )
        app = create_app(topology, node_id, deps)
        url = await serve(self.stack, app, port)
        return Node(app=app, url=url)

    @property
    def keyring(self) -> Keyring:
        if not hasattr(self, "_keyring"):
            self._keyring = Keyring.generate()
        return self._keyring


@dataclass
class Node:
    app: web.Application
    url: str

    @property
    def tokens(self) -> Any:
        return self.app[TOKENS]


async def start_world(
    stack: contextlib.AsyncExitStack,
    tmp: Path,
    *,
    expires_in: int = DAY,
    accepted: tuple[str, ...] = (GOOD_SECRET,),
    rate_limit: RateLimitConfig | None = None,
    latency: LatencyConfig | None = None,
) -> World:
    """IMS and Analytics on port 0. Analytics answers at once unless ``latency`` is given
    (its model's 1 s median would make every report call of a test take a second)."""
    loop = asyncio.get_running_loop()
    clock = Clock.of_loop(loop, wall_offset=WALL_EPOCH)
    keys = ImsKeys(tmp / "sim", wall_clock=clock.wall)
    base = Topology.from_dict(topology_dict(tmp, "http://x", "http://y"))
    ims_config = base.simulation.ims.model_copy(update={"expires_in": expires_in})
    ims = create_ims(
        ims_config,
        ImsDeps(
            client_id=CLIENT_ID,
            accepted_secrets=tuple(Secret(s) for s in accepted),
            keys=keys,
            clock=clock,
            rng=random.Random(7),
        ),
    )
    ims_url = await serve(stack, ims)
    sim = base.simulation.analytics.evolve(
        rate_limit=rate_limit or RateLimitConfig(),
        latency=latency or LatencyConfig(enabled=False),
    )
    verifier = TokenVerifier(
        f"{ims_url}/ims/keys",
        keys.revocations,
        wall_clock=clock.wall,
        monotonic=clock.monotonic,
    )
    analytics = create_analytics(
        sim,
        AnalyticsDeps(
            company_id="testco",
            client_id=CLIENT_ID,
            verifier=verifier,
            clock=clock,
            rng=random.Random(8),
            traffic=TrafficModel(
                pages=sim.pages,
                daily_visits=sim.daily_visits,
                drift_period=sim.drift_period,
                seed=sim.seed,
            ),
        ),
    )
    analytics_url = await serve(stack, analytics)
    return World(stack, tmp, clock, ims, analytics, ims_url, analytics_url, keys)


class ScriptedTokenEndpoint:
    """The token endpoint as a script: each call takes ``latency`` and fails with the next
    scripted error, or (script empty) grants a new token of ``lifetime``."""

    def __init__(self, lifetime: int = 3600, latency: float = 0.0) -> None:
        self.lifetime, self.latency = lifetime, latency
        self.script: list[RefreshError] = []
        self.calls = 0

    async def fetch(self, secret: Secret) -> TokenGrant:
        self.calls += 1
        await asyncio.sleep(self.latency)
        if self.script:
            raise self.script.pop(0)
        return TokenGrant(Secret(f"token-{self.calls}"), self.lifetime)


async def start_provider(
    topology: Topology,
    fetcher: TokenFetcher,
    *,
    keyring: Keyring,
    clock: Clock,
    seed: int = 1,
    store: SharedStore | None = None,
) -> Any:
    """Node p1's token provider for ``topology``, in this process, started (it has looked at
    its store once); the caller closes it."""
    deps = TokenDeps(
        secrets=(Secret("s"),), keyring=keyring, clock=clock, rng=random.Random(seed), store=store
    )
    provider = build_provider(topology, "p1", deps, fetcher).provider
    await provider.start()
    return provider


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()
