"""Shared fixtures: real aiohttp servers on port 0, the simulated world, and nodes.

Everything runs on the test's event loop. The clock is the loop's clock, so tests marked
``@pytest.mark.looptime`` run 24 h token lifetimes in milliseconds of real time, and the
simulated IMS, Analytics and the node all agree on what time it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import resource
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tokensim_token import Keyring, RefreshError, SharedStore, TokenFetcher
from tokensim_token.clock import Clock
from tokensim_token.model import TokenGrant
from tokensim_token.redis_store import RedisStore
from tokensim_token.secrets import Secret

from core.topology import RateLimitConfig, Topology
from harness.estate.processes import free_ports
from node.app import TOKENS, NodeDeps, create_app
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


def pytest_configure(config: pytest.Config) -> None:
    # Some tests hold hundreds of connections in this process (200 clients through an
    # in-process balancer): an ordinary user's soft limit of 1,024 descriptors is not enough,
    # so raise it to the hard limit, as any server process may.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    # looptime asks the policy for the current loop before every test, sync ones too. Until a
    # loop has been set, Python 3.11 creates one there that nobody closes, and warnings-as-
    # errors then fails whichever test is running when it is collected (pytest-asyncio #724).
    # Saying "no current loop" once makes that call raise instead, which looptime expects.
    asyncio.set_event_loop(None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under `make mutate` each mutant runs the tests that reach it and stops at the first
    # failure: running them fastest first (by the durations mutmut measured in its clean run)
    # makes a killed mutant cost the quickest test that notices it, not the whole list.
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    long = [item for item in items if item.get_closest_marker("long")]
    if long:  # several lifetimes each: covered by faster tests of the same behaviour
        config.hook.pytest_deselected(items=long)
        items[:] = [item for item in items if not item.get_closest_marker("long")]
    stats = Path("mutmut-stats.json")
    if not stats.is_file():
        return
    durations: dict[str, float] = json.loads(stats.read_text())["duration_by_test"]
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
    # A mutant that makes a test wait forever (a lock never released, a reply never sent, a
    # refresher that never sleeps) is caught when that test overruns its own clean duration
    # five times over (5 s at least: three mutants share two cores), not when mutmut's CPU
    # limit for the whole list expires. The thread method ends the process: the signal
    # method raises inside whatever runs, and a busy asyncio task swallows that.
    for item in items:
        limit = max(5.0, 5 * durations.get(item.nodeid, 1.0))
        item.add_marker(pytest.mark.timeout(limit, method="thread"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under `make mutate` the first failing test has killed its mutant: end the run there,
    # as -x would, but without tearing down first. A teardown can wait a minute in real
    # time for a reply the mutant will never send (aiohttp waits for handlers in flight).
    if report.failed and "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        os._exit(1)


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
            "cache_ttl": 60,
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
    runner = web.AppRunner(app, access_log=None)
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
) -> World:
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
    sim = base.simulation.analytics.evolve(rate_limit=rate_limit or RateLimitConfig())
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


@pytest.fixture
async def stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as s:
        yield s


@pytest.fixture
async def http(stack: contextlib.AsyncExitStack) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1e6))
    stack.push_async_callback(session.close)
    return session


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


def _dies_with_this_process() -> list[str]:
    """A prefix that has the kernel stop the server when this process ends, however it ends:
    under `make mutate` a mutant's test process exits at its first failure without running
    the fixtures' teardown (see pytest_runtest_logreport), and a server it started must not
    outlive it. setpriv is in util-linux (Debian: always installed)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port for the whole session; tests use their own prefix.

    Skipped when redis-server is not installed, unless TOKENSIM_REQUIRE_REDIS is set (CI sets
    it after installing the Debian package, so there the tests cannot silently skip).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("TOKENSIM_REQUIRE_REDIS"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    (port,) = free_ports(1)
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            *_dies_with_this_process(),
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--requirepass",  # as the harness runs it (--store redis): a client must say it
            REDIS_PASSWORD,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # redis-server logs to stdout; it says when it accepts connections (or exits: EOF).
        assert process.stdout is not None
        for line in process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server exited with {process.wait()} before accepting connections")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.communicate(timeout=10)  # reads what it logged since (little) and closes the pipe


# Redis is another process: its replies take real time, while looptime moves virtual time on
# to the next timer as soon as the loop has nothing ready to run. A reply that is slow in real
# time (a loaded CI machine) would then let hours of virtual time pass during one Redis call,
# and the test would see a timeout that production never would. So while a Redis call is
# outstanding the loop is kept busy, and virtual time stands still: Redis answers "instantly".
_REDIS_CALLS = ("get", "put", "remove_if", "try_lease", "release_lease")


@contextlib.asynccontextmanager
async def virtual_time_held() -> AsyncIterator[None]:
    """Keep a callback ready on the loop, so that looptime does not advance virtual time."""
    loop = asyncio.get_running_loop()
    held = True

    def keep_busy() -> None:  # re-arms itself until the wrapped call is over
        if held:
            loop.call_soon(keep_busy)

    loop.call_soon(keep_busy)
    try:
        yield
    finally:
        held = False


def _held_during_io(call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(call)
    async def held(*args: Any, **kwargs: Any) -> Any:
        async with virtual_time_held():
            return await call(*args, **kwargs)

    return held


@pytest.fixture(params=["file", "redis"])
def store_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``token`` keys for each shared store: the embedded file store and a real Redis."""
    if request.param == "file":
        return {"store": {"kind": "file"}}
    url = request.getfixturevalue("redis_server")
    for name in _REDIS_CALLS:
        monkeypatch.setattr(RedisStore, name, _held_during_io(getattr(RedisStore, name)))
    prefix = f"t{uuid.uuid4().hex[:12]}"
    return {"store": {"kind": "redis", "url": url, "key_prefix": prefix}}
