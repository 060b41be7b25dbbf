"""``harness compare --virtual 7d``: a week of a three-node cluster in seconds, per design.

Each design runs on its own event loop whose clock is virtual (looptime): ``asyncio.sleep``
and every timeout move a simulated clock instead of waiting. The nodes run the real node code
- :func:`node.token.strategies.build_provider` (the same token providers, coordinators, sealed
files and store) and :class:`node.reports.TopPagesService` (cache, single-flight, stale) -
against the in-process IMS and Analytics of :mod:`harness.virtual.world`, with the real 86399 s
token lifetime.

Traffic: every ``tick`` (the report cache's lifetime) each node's cached report expires and
``burst`` requests arrive together and miss the cache; the other ``rate * tick - burst``
requests of that tick are cache hits served in no time. Faults are scheduled by
:func:`timeline`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import Clock
from core.secrets import Secret
from core.topology import RetryConfig, StoreConfig, Topology
from harness.designs import Design
from harness.virtual.clock import run_in_virtual_time
from harness.virtual.world import DirectReplication, VirtualAnalytics, VirtualIms
from node.errors import ReportUnavailable
from node.reports import TopPagesService
from node.token import Keyring, TokenProvider
from node.token.strategies import TokenDeps, build_provider, strategy

LIFETIME = 86_399  # what Adobe IMS grants (reference/adobe-ims-token.md)
WALL_START = 1_795_000_000.0  # 2026-11-18T09:46:40Z: the simulated week's first second
NODES = ("p1", "p2", "p3")


@dataclass(frozen=True, slots=True)
class VirtualSettings:
    horizon: float = 7 * 86_400.0
    tick: float = 60.0  # the report cache's lifetime: one Analytics call per node per tick
    rate: float = 2.0  # page requests per second per node
    burst: int = 4  # requests that arrive while the cache is being refilled
    ims_latency: float = 0.3
    analytics_latency: float = 0.2
    peer_poll: float = 60.0  # shared/scheduled followers look at the store this often
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # seconds since the start
    name: str
    duration: float = 0.0  # seconds; 0 = an instant


def timeline(horizon: float) -> tuple[Event, ...]:
    """The faults, the same for every design: mostly at fixed fractions of the horizon; the
    IMS outage starts an hour before the tokens obtained at start would expire for the second
    time (the first time on horizons under five days), so it catches any design that only
    fetches on expiry."""
    expiries = 2 if horizon >= 5 * 86_400 else 1
    return (
        Event(expiries * LIFETIME - 3600, "IMS outage", 3 * 3600),
        Event(0.36 * horizon, "IMS flaky (50% errors)", 6 * 3600),
        Event(0.50 * horizon, "IMS revokes every token"),
        Event(0.64 * horizon, "p2 restarts", 600),
        Event(0.80 * horizon, "Analytics outage", 3600),
    )


@dataclass
class Tally:
    """What users saw, counted per request (cache hits included)."""

    fresh: int = 0
    stale: int = 0
    errors: int = 0
    latency_ms: Counter[int] = field(default_factory=Counter)
    outage_requests: int = 0
    outage_served: int = 0
    outage_fresh: int = 0

    def add(self, outcome: str, count: int, latency: float, *, in_outage: bool) -> None:
        setattr(self, outcome, getattr(self, outcome) + count)
        self.latency_ms[round(latency * 1000)] += count
        if in_outage:
            self.outage_requests += count
            self.outage_served += count if outcome != "errors" else 0
            self.outage_fresh += count if outcome == "fresh" else 0

    def percentile(self, q: float) -> float:
        total = sum(self.latency_ms.values())
        if not total:
            return 0.0
        rank = math.ceil(q * total)
        seen = 0
        for value in sorted(self.latency_ms):
            seen += self.latency_ms[value]
            if seen >= rank:
                return float(value)
        return float(max(self.latency_ms))


@dataclass(frozen=True, slots=True)
class VirtualResult:
    design: str
    horizon: float
    requests: int
    user_errors: int
    stale: int
    analytics_401s: int
    token_calls: int
    token_calls_per_node: dict[str, int]
    peak_concurrent_token_calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    served_during_ims_outage: float | None  # fraction answered at all (fresh or stale)
    fresh_during_ims_outage: float | None  # fraction answered with a fresh report
    recovery_s: float | None
    token_calls_on_restart: int
    token_call_times: dict[str, list[float]]  # hours since start, per node
    wall_seconds: float


@dataclass
class SimNode:
    node_id: str
    provider: TokenProvider
    reports: TopPagesService


class Simulation:
    def __init__(
        self, design: Design, settings: VirtualSettings, base: Topology, state: Path
    ) -> None:
        loop = asyncio.get_running_loop()
        self.design = design
        self.settings = settings
        self.clock = Clock.of_loop(loop, wall_offset=WALL_START)
        self.rng = random.Random(settings.seed)
        self.ims = VirtualIms(self.clock, LIFETIME, settings.ims_latency, self.rng.random)
        self.analytics = VirtualAnalytics(self.ims, settings.analytics_latency)
        self.replication = DirectReplication()
        self.keyring = Keyring.generate()
        self.topology = _topology_for(base, design, settings, state)
        self.nodes: dict[str, SimNode] = {}
        self.tally = Tally()
        self.start = loop.time()
        self.ims_back_at: float | None = None
        self.recovered_at: float | None = None
        self.restart_at: float | None = None
        self.outage_window: tuple[float, float] | None = None
        self._fresh_before_back = True

    async def start_node(self, node_id: str, seed: int) -> None:
        deps = TokenDeps(
            secrets=(Secret("virtual-client-secret"),),
            keyring=self.keyring,
            clock=self.clock,
            rng=random.Random(seed),
        )
        built = build_provider(
            self.topology, node_id, deps, self.ims.fetcher(node_id), transport=self.replication
        )
        provider = built.provider
        if built.leader is not None:
            self.replication.leaders[node_id] = built.leader
        if built.follower is not None:
            self.replication.followers[node_id] = built.follower
        reports = TopPagesService(
            analytics=self.analytics.source(node_id),
            tokens=provider,
            cache_ttl=self.settings.tick,
            clock=self.clock,
            single_flight=strategy(self.design.strategy).single_flight,
        )
        self.replication.stopped.discard(node_id)
        await provider.start()
        self.nodes[node_id] = SimNode(node_id, provider, reports)

    async def stop_node(self, node_id: str) -> None:
        node = self.nodes.pop(node_id)
        self.replication.stopped.add(node_id)
        await node.provider.close()

    async def run(self) -> None:
        for seed, node_id in enumerate(NODES, start=1):
            await self.start_node(node_id, seed)
        loop = asyncio.get_running_loop()
        pending: list[tuple[float, Callable[[], Any]]] = []
        for event in timeline(self.settings.horizon):
            at = self.start + event.at
            for when, action in self._actions(event, at):
                pending.append((when, action))
        pending.sort(key=lambda item: item[0])
        ticks = int(self.settings.horizon / self.settings.tick)
        for i in range(ticks):
            now = loop.time()
            while pending and pending[0][0] <= now:
                _, action = pending.pop(0)
                result = action()
                if asyncio.iscoroutine(result):
                    await result
            outcomes = await asyncio.gather(*(self._tick(n) for n in list(self.nodes.values())))
            self._note_recovery(outcomes, now)
            await asyncio.sleep(max(0.0, self.start + (i + 1) * self.settings.tick - loop.time()))
        for node_id in list(self.nodes):
            await self.stop_node(node_id)

    def _actions(self, event: Event, at: float) -> list[tuple[float, Callable[[], Any]]]:
        ims, analytics = self.ims, self.analytics
        end = at + event.duration

        def set_ims(outage: bool = False, error_rate: float = 0.0) -> Callable[[], None]:
            def apply() -> None:
                ims.faults.outage = outage
                ims.faults.error_rate = error_rate

            return apply

        if event.name == "IMS outage":
            self.outage_window = (at, end)

            def back() -> None:
                set_ims()()
                self.ims_back_at = end

            return [(at, set_ims(outage=True)), (end, back)]
        if event.name.startswith("IMS flaky"):
            return [(at, set_ims(error_rate=0.5)), (end, set_ims())]
        if event.name.startswith("IMS revokes"):
            return [(at, ims.revoke_all)]
        if event.name == "p2 restarts":
            self.restart_at = end

            async def restart() -> None:
                await self.start_node("p2", seed=22)

            return [(at, lambda: self.stop_node("p2")), (end, restart)]
        if event.name == "Analytics outage":

            def down() -> None:
                analytics.outage = True

            def up() -> None:
                analytics.outage = False

            return [(at, down), (end, up)]
        raise ValueError(f"unknown event {event.name!r}")

    async def _tick(self, node: SimNode) -> str:
        """One cache lifetime of one node: ``burst`` requests miss the cache together."""
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def one() -> tuple[str, float]:
            try:
                report = await node.reports.get()
            except ReportUnavailable:
                return "errors", loop.time() - started
            return ("stale" if report.stale else "fresh"), loop.time() - started

        settings = self.settings
        results = await asyncio.gather(*(one() for _ in range(settings.burst)))
        window = self.outage_window
        in_outage = window is not None and window[0] <= started < window[1]
        for outcome, latency in results:
            self.tally.add(outcome, 1, latency, in_outage=in_outage)
        hits = max(0, round(settings.rate * settings.tick) - settings.burst)
        self.tally.add(results[-1][0], hits, 0.0, in_outage=in_outage)
        return results[-1][0]

    def _note_recovery(self, outcomes: Sequence[str], now: float) -> None:
        """Recovery: from IMS coming back to the first moment every node serves fresh pages
        again; 0 when every node still served fresh pages as IMS came back."""
        all_fresh = all(o == "fresh" for o in outcomes)
        back = self.ims_back_at
        if back is not None and self.recovered_at is None and now >= back:
            if self._fresh_before_back:
                self.recovered_at = back
            elif all_fresh:
                self.recovered_at = now
        if back is None or now < back:
            self._fresh_before_back = all_fresh

    def result(self, wall_seconds: float) -> VirtualResult:
        ims = self.ims
        per_node = {n: ims.issued_by_caller.get(n, 0) for n in NODES}
        times: dict[str, list[float]] = {n: [] for n in NODES}
        for at, caller in ims.issued_log:
            times[caller].append(round((at - self.start) / 3600, 3))
        on_restart = 0
        if self.restart_at is not None:
            on_restart = sum(
                1
                for at, caller in ims.issued_log
                if caller == "p2" and self.restart_at <= at < self.restart_at + 300
            )
        tally = self.tally
        return VirtualResult(
            design=self.design.label,
            horizon=self.settings.horizon,
            requests=tally.fresh + tally.stale + tally.errors,
            user_errors=tally.errors,
            stale=tally.stale,
            analytics_401s=sum(self.analytics.unauthorized_by_caller.values()),
            token_calls=sum(per_node.values()),
            token_calls_per_node=per_node,
            peak_concurrent_token_calls=ims.peak_in_flight,
            p50_ms=tally.percentile(0.50),
            p95_ms=tally.percentile(0.95),
            p99_ms=tally.percentile(0.99),
            served_during_ims_outage=(
                tally.outage_served / tally.outage_requests if tally.outage_requests else None
            ),
            fresh_during_ims_outage=(
                tally.outage_fresh / tally.outage_requests if tally.outage_requests else None
            ),
            recovery_s=(
                None
                if self.ims_back_at is None or self.recovered_at is None
                else round(self.recovered_at - self.ims_back_at, 1)
            ),
            token_calls_on_restart=on_restart,
            token_call_times=times,
            wall_seconds=round(wall_seconds, 2),
        )


def _topology_for(
    base: Topology, design: Design, settings: VirtualSettings, state: Path
) -> Topology:
    topology = base.with_token(
        state_dir=str(state),
        peer_poll=settings.peer_poll,
        lease_ttl=30.0,
        wait_timeout=10.0,
        expiry_margin=300.0,
        retry=RetryConfig(base=1.0, cap=60.0, config_error_interval=300.0),
        store=StoreConfig(kind="file"),
        key_env=None,
        key_file=None,
    ).evolve(analytics=base.analytics.evolve(cache_ttl=settings.tick))
    return design.applied(topology, LIFETIME)


def simulate(
    design: Design, settings: VirtualSettings, base: Topology, log_path: Path | None = None
) -> VirtualResult:
    """Run one design for the horizon on its own virtual-time event loop.

    Log lines (the nodes' own) go to ``log_path`` when given, else nowhere: a simulated week
    logs every failed refill of the report cache.
    """
    started = time.perf_counter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if log_path is not None:
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        root.addHandler(logging.NullHandler())
    with tempfile.TemporaryDirectory(prefix="tokensim-virtual-") as state:

        async def main() -> VirtualResult:
            simulation = Simulation(design, settings, base, Path(state))
            await simulation.run()
            return simulation.result(time.perf_counter() - started)

        return run_in_virtual_time(main)
