"""``harness compare --virtual 7d``: a week of the estate that topology.yaml describes, in
seconds, per design.

Each design runs on its own event loop whose clock is virtual (:mod:`harness.virtual.clock`):
``asyncio.sleep`` and every timeout move a simulated clock instead of waiting. Two layers:

* **Tokens: the real node code.** Every publisher of topology.yaml (or of ``--publishers N``)
  gets the provider :func:`node.token.strategies.build_provider` builds for its strategy, with
  its coordinator, sealed file and store, against the in-process IMS
  (:mod:`harness.virtual.world`), with the real 86399 s lifetime.
* **Reports: a discrete-event model** of what the node's report service does, so that fifty
  nodes refreshing a 5 s report for a week stay in seconds: at each instant a node's report
  is due, it takes the token its provider holds (``current()``, without waiting), calls the
  in-process Analytics at that instant (rate limit, 401, outage) and follows the same
  :class:`node.report_policy.ReportPolicy` as the node (cache, failure hold, 429 back-off). A
  node that holds no usable token waits for its provider (``get()``) as a real one would. With
  a shared report (``+shared-report``) one node refreshes the cluster's report under a lease
  and the others adopt it; the replicated design's leader pushes it with the token.

The driver moves in windows of a minute: the report events inside a window are handled at
their own instants, then the loop sleeps to the window's end so that the providers' timers
run. Users are counted per request: the site's traffic (``rate`` per publisher of the start)
spread over the publishers up at the time; latency counts cache hits as 0 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
from dataclasses import dataclass
from pathlib import Path

from tokensim_token import Keyring, TokenProvider, TokenUnavailable
from tokensim_token.clock import Clock
from tokensim_token.secrets import Secret

from core.topology import Topology
from harness.designs import Design
from harness.virtual.reports import (
    FRESH,
    ClusterReport,
    NodeReport,
    Refresher,
    ReportState,
    Users,
)
from harness.virtual.settings import WALL_START, VirtualSettings
from harness.virtual.timeline import LIFETIME, TIMELINES, Event, EventKind
from harness.virtual.tracing import TraceRecorder
from harness.virtual.world import DirectReplication, MemoryStore, VirtualAnalytics, VirtualIms
from node.report_policy import ReportPolicy
from node.token.strategies import TokenDeps, build_provider, strategy

WINDOW = 60.0  # seconds of virtual time between two turns of the token layer


@dataclass
class SimNode:
    node_id: str
    provider: TokenProvider
    report: NodeReport
    started_at: float


class Simulation:
    """One design's estate in virtual time: its nodes (each with its real token provider and
    a report model), the outside world, the users, and the timeline of what happens."""

    def __init__(self, design: Design, settings: VirtualSettings, topology: Topology) -> None:
        loop = asyncio.get_running_loop()
        self.design = design
        self.settings = settings
        self.topology = topology
        self.clock = Clock.of_loop(loop, wall_offset=WALL_START)
        self.rng = random.Random(settings.seed)
        # The outside world and the links between nodes, in process.
        self.ims = VirtualIms(self.clock, LIFETIME, settings.ims_latency, self.rng.random)
        self.analytics = VirtualAnalytics(
            self.ims, topology.simulation.analytics.rate_limit, wall_start=WALL_START
        )
        self.replication = DirectReplication()
        self.store = MemoryStore(self.clock.wall)
        self.keyring = Keyring.generate()
        # The estate and how its nodes refresh their reports.
        self.publishers: tuple[str, ...] = tuple(p.id for p in topology.publishers)
        self.nodes: dict[str, SimNode] = {}
        self.policy = ReportPolicy(topology.analytics.cache_ttl)
        self.tries = 1 if strategy(design.strategy).single_flight else settings.burst
        self.cluster: ClusterReport | None = (
            ClusterReport(Refresher(self.policy, random.Random(settings.seed)))
            if design.shared_report
            else None
        )
        # What users saw, the site's traffic, and the timeline.
        self.users = Users(latency_ms=round(settings.analytics_latency * 1000))
        self.site_rate = settings.rate * len(self.publishers)
        self.start = loop.time()
        self.events: tuple[Event, ...] = TIMELINES[settings.scenario](
            settings.horizon, self.publishers
        )
        self.starts: list[tuple[str, float]] = []  # (node, instant) of every later start
        self.ims_back_at: float | None = None
        self.recorder = TraceRecorder(settings.horizon)
        self._due: list[tuple[float, int, str]] = []  # report events: (instant, seq, node)
        self._seq = 0
        self._waiting: dict[str, float] = {}  # node -> when its report waited for a token

    # --- nodes ----------------------------------------------------------------------------

    async def start_node(self, node_id: str, *, empty_disk: bool, seed: int) -> None:
        if empty_disk:  # a new or recycled instance: nothing of an earlier one on its disk
            token_file = Path(self.topology.token.state_dir) / "nodes" / f"{node_id}.token"
            token_file.unlink(missing_ok=True)
        deps = TokenDeps(
            secrets=(Secret("virtual-client-secret"),),
            keyring=self.keyring,
            clock=self.clock,
            rng=random.Random(seed),
            store=self.store,
        )
        built = build_provider(
            self._as_seen_by(node_id),
            node_id,
            deps,
            self.ims.fetcher(node_id),
            transport=self.replication,
        )
        if built.leader is not None:
            self.replication.leaders[node_id] = built.leader
        if built.follower is not None:
            self.replication.followers[node_id] = built.follower
        self.replication.stopped.discard(node_id)
        now = self._now()
        refresher = Refresher(self.policy, random.Random(seed))
        refresher.report.accounted_until = now
        self.nodes[node_id] = SimNode(node_id, built.provider, NodeReport(node_id, refresher), now)
        self._rebalance(now)
        await built.provider.start()
        self._schedule(node_id, now)  # its first visitors want a report at once

    async def stop_node(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            return
        now = self._now()
        self._flush(now)
        del self.nodes[node_id]
        self._rebalance(now)
        self.replication.stopped.add(node_id)
        self._waiting.pop(node_id, None)
        await node.provider.close()

    def _as_seen_by(self, node_id: str) -> Topology:
        """The topology as ``node_id`` sees it: a node the tier scaled out with is in it."""
        if node_id in self.publishers:
            return self.topology
        extra = self.topology.publishers[0].evolve(id=node_id, port=_port_for(node_id))
        return self.topology.evolve(publishers=(*self.topology.publishers, extra))

    def _flush(self, now: float) -> None:
        """Count every report's requests up to ``now``."""
        for report in self._reports():
            self.users.account(report, now, self._in_outage(report.accounted_until))

    def _rebalance(self, now: float) -> None:
        """The site's traffic spread over the nodes up now (it does not grow with them)."""
        self._flush(now)
        up = len(self.nodes)
        for node in self.nodes.values():
            node.report.report.rate = 0.0 if self.cluster else self.site_rate / max(1, up)
        if self.cluster is not None:
            self.cluster.report.rate = self.site_rate if up else 0.0

    def _reports(self) -> list[ReportState]:
        reports = [n.report.report for n in self.nodes.values()]
        return [*reports, self.cluster.report] if self.cluster is not None else reports

    # --- the run --------------------------------------------------------------------------

    async def run(self) -> None:
        for seed, node_id in enumerate(self.publishers, start=1):
            await self.start_node(node_id, empty_disk=True, seed=seed)
        actions = sorted(_actions(self.events), key=lambda a: a[0])
        windows = math.ceil(self.settings.horizon / WINDOW)
        loop = asyncio.get_running_loop()
        for i in range(windows):
            window_end = min((i + 1) * WINDOW, self.settings.horizon)
            while actions and actions[0][0] <= self._now():
                _, kind, nodes, begins = actions.pop(0)
                await self._apply(kind, nodes, begins)
            self._run_reports(until=window_end)
            await self._serve_waiting()
            self._note_recovery()
            await asyncio.sleep(max(0.0, self.start + window_end - loop.time()))
            if self.recorder.due(window_end):
                self._flush(window_end)
                providers = {n: node.provider for n, node in self.nodes.items()}
                self.recorder.sample(window_end, providers, self.analytics, self.users)
        self._flush(self._now())
        for node_id in list(self.nodes):
            await self.stop_node(node_id)

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self.start

    def _schedule(self, node_id: str, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, node_id))

    def _run_reports(self, *, until: float) -> None:
        """Every report event before ``until``, each at its own instant."""
        due = self._due
        while due and due[0][0] < until:
            at, _, node_id = heapq.heappop(due)
            node = self.nodes.get(node_id)
            if node is None:
                continue  # stopped since
            next_at = self._report_due(node, at)
            if next_at is None:
                self._waiting[node_id] = at
            else:
                self._schedule(node_id, next_at)

    def _report_due(self, node: SimNode, at: float) -> float | None:
        """``node``'s report is due at ``at``; when it is next, or None to wait for a token."""
        for report in self._reports_of(node):
            self.users.account(report, at, self._in_outage(report.accounted_until))
        if self.cluster is not None:
            return self.cluster.due(node.node_id, node.provider, self.analytics, at, self.users)
        return node.report.due(node.provider, self.analytics, at, self.users, self.tries)

    def _reports_of(self, node: SimNode) -> list[ReportState]:
        return [self.cluster.report] if self.cluster is not None else [node.report.report]

    async def _serve_waiting(self) -> None:
        """Nodes with no usable token wait for their provider, as a real node's requests do;
        then their report is refreshed at that instant."""
        waiting, self._waiting = self._waiting, {}
        nodes = [(self.nodes[n], due) for n, due in sorted(waiting.items()) if n in self.nodes]
        await asyncio.gather(*(self._with_token(n, due) for n, due in nodes))

    async def _with_token(self, node: SimNode, due: float) -> None:
        """``node``'s report was due at ``due`` (at or ahead of the loop's clock: the driver
        handles a window's reports ahead of it) and its provider had no token to use."""
        with contextlib.suppress(TokenUnavailable):
            await asyncio.gather(*(node.provider.get() for _ in range(self.tries)))
        now = max(self._now(), due)  # the token was there by ``due``, or came at ``now``
        self.users.waited(self.settings.burst, now - due)
        if node.node_id in self.nodes:
            next_at = self._report_due(node, now)
            self._schedule(node.node_id, next_at if next_at is not None else now + 1.0)

    def _note_recovery(self) -> None:
        """From IMS coming back to the first moment every node serves fresh pages again."""
        back, users = self.ims_back_at, self.users
        if back is None or users.recovery_s is not None:
            return
        if all(r.shown == FRESH for r in self._reports() if r.rate):
            users.recovery_s = round(max(0.0, self._now() - back - WINDOW), 1)

    # --- the timeline ---------------------------------------------------------------------

    async def _apply(self, kind: EventKind, nodes: tuple[str, ...], begins: bool) -> None:
        now = self._now()
        ims = self.ims
        if kind is EventKind.IMS_OUTAGE:
            self._flush(now)
            ims.faults.outage = begins
            if not begins:
                self.ims_back_at = now
        elif kind is EventKind.IMS_FLAKY:
            ims.faults.error_rate = 0.5 if begins else 0.0
        elif kind is EventKind.REVOCATION:
            ims.revoke_all()
        elif kind is EventKind.ANALYTICS_OUTAGE:
            self.analytics.outage = begins
        elif kind is EventKind.RESTART:  # a process restart: the node keeps its disk
            for node_id in nodes:
                if begins:
                    await self.stop_node(node_id)
                else:
                    await self._start_later(node_id, empty_disk=False)
        elif kind is EventKind.SCALE_OUT:
            for node_id in nodes:
                await self._start_later(node_id, empty_disk=True)
        elif kind is EventKind.SCALE_IN:
            for node_id in nodes:
                await self.stop_node(node_id)
        elif kind is EventKind.RECYCLE:  # AEM as a Cloud Service: a new instance, an empty disk
            for node_id in nodes:
                await self.stop_node(node_id)
                await self._start_later(node_id, empty_disk=True)

    async def _start_later(self, node_id: str, *, empty_disk: bool) -> None:
        self.starts.append((node_id, self._now()))
        await self.start_node(node_id, empty_disk=empty_disk, seed=self.rng.randrange(1 << 30))

    def _in_outage(self, at: float) -> bool:
        return any(e.kind is EventKind.IMS_OUTAGE and e.at <= at < e.end for e in self.events)

    # --- the result -----------------------------------------------------------------------


def _actions(events: tuple[Event, ...]) -> list[tuple[float, EventKind, tuple[str, ...], bool]]:
    """Each event as its begin (and, for a window, its end) instant."""
    out = []
    for e in events:
        out.append((e.at, e.kind, e.nodes, True))
        if e.duration:
            out.append((e.end, e.kind, e.nodes, False))
    return out


def _port_for(node_id: str) -> int:
    return 40_000 + sum(map(ord, node_id)) % 20_000  # never listened on: a name in the config
