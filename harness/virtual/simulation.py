"""``harness compare --virtual 7d``: a week of the estate that topology.yaml describes, in
seconds, per design.

Each design runs on its own event loop whose clock is virtual (:mod:`harness.virtual.clock`):
``asyncio.sleep`` and every timeout move a simulated clock instead of waiting. Two layers:

* **Tokens: the real node code.** Every publisher gets the provider
  :func:`node.token.strategies.build_provider` builds for its strategy, with its coordinator,
  sealed file and store, against the in-process IMS (:mod:`harness.virtual.world`), with the
  real 86399 s lifetime. Their timers run on the virtual clock between events.
* **Reports and users: discrete events** (:mod:`harness.virtual.reports`). A report's call
  takes the token its provider holds (``current()``, without waiting); a node that holds none
  waits for its provider (``get()``) as a real one would. Requests are not events: each
  stretch of time adds its requests to what users saw (:mod:`harness.virtual.users`); on
  every page load, one draw is the wait for the request that calls (the reference, request by
  request: :mod:`harness.virtual.arrivals`).

The driver takes the next event off one heap (report calls and answers, the timeline's
actions, the trace's samples), lets virtual time run to it (the providers' timers fire
meanwhile) and handles it: the cost is per event, not per minute of simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
from pathlib import Path

from tokensim_token import Keyring
from tokensim_token.clock import Clock
from tokensim_token.refreshing import DUE_TOLERANCE

from core.topology import Topology
from harness.designs import Design
from harness.virtual import nodes as estate
from harness.virtual.arrivals import RequestStreams
from harness.virtual.happenings import actions_of, apply_event
from harness.virtual.nodes import InFlight, SimNode
from harness.virtual.reports import FRESH, NONE, ClusterReport, NodeReport, Refresher, ReportState
from harness.virtual.settings import WALL_START, VirtualSettings
from harness.virtual.timeline import LIFETIME, TIMELINES, Event, EventKind, within
from harness.virtual.tracing import TraceRecorder
from harness.virtual.users import Users
from harness.virtual.world import (
    UNAUTHORIZED,
    UNAVAILABLE,
    DirectReplication,
    MemoryStore,
    VirtualAnalytics,
    VirtualIms,
)
from node.report_policy import ReportPolicy
from node.token.strategies import strategy

CLUSTER = ""  # the report key of the cluster's one report
SYNC = 120.0  # seconds the token layer may run behind the event handled
CALL, ACTION, SAMPLE, REQUEST = 0, 2, 3, 4


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
        sim = topology.simulation.analytics
        latency = sim.latency if settings.latency else sim.latency.evolve(enabled=False)
        self.ims = VirtualIms(self.clock, LIFETIME, settings.ims_latency, self.rng.random)
        self.analytics = VirtualAnalytics(
            self.ims,
            sim.rate_limit,
            latency,
            wall_start=WALL_START,
            timeout=topology.analytics.timeout,
            rng=random.Random(settings.seed + 1),
        )
        self.replication = DirectReplication()
        self.store = MemoryStore(self.clock.wall)
        self.keyring = Keyring.generate()
        # The estate and how its nodes refresh their reports.
        self.publishers: tuple[str, ...] = tuple(p.id for p in topology.publishers)
        self.nodes: dict[str, SimNode] = {}
        self.policy = ReportPolicy(estate.report_cadence(topology))
        self.jitter = topology.analytics.report_jitter
        self.tries = 1 if strategy(topology.token.strategy).single_flight else settings.burst
        # author-report: the author alone holds a token and refreshes the cluster's one report.
        self.published = topology.analytics.published
        self.author: SimNode | None = None
        self.cluster: ClusterReport | None = (
            ClusterReport(self._refresher(settings.seed)) if topology.analytics.one_report else None
        )
        # What users saw, the site's traffic, and the timeline.
        self.users = Users()
        self.site_rate = settings.rate * len(self.publishers)
        self.start = loop.time()
        self.events: tuple[Event, ...] = TIMELINES[settings.scenario](
            settings.horizon, self.publishers
        )
        self._outages = [(e.at, e.end) for e in self.events if e.kind is EventKind.IMS_OUTAGE]
        self.starts: list[tuple[str, float]] = []  # (node, instant) of every later start
        self.ims_back_at: float | None = None
        self.recorder = TraceRecorder(settings.horizon)
        self._heap: list[tuple[float, int, int, str, int, str]] = []
        self._seq = 0
        self._generations = 0
        self._in_flight: dict[str, InFlight] = {}  # report key -> its call out
        self.requests = (  # every page request its own event: the reference
            RequestStreams(self.rng, lambda at, *request: self._push(at, REQUEST, *request))
            if settings.per_request
            else None
        )
        self._wake = asyncio.Event()
        self._waiting: set[asyncio.Task[None]] = set()

    def _refresher(self, seed: int) -> Refresher:
        return Refresher(self.policy, self.jitter, random.Random(seed))

    # --- the event heap -------------------------------------------------------------------

    def _push(
        self, at: float, kind: int, key: str = "", generation: int = 0, note: str = ""
    ) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, key, generation, note))
        if self._waiting:  # the driver waits for a token only while a task waits
            self._wake.set()

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.start

    async def run(self) -> None:
        if self.published:
            await self.start_author()
        for seed, node_id in enumerate(self.publishers, start=1):
            await self.start_node(node_id, empty_disk=True, seed=seed)
        actions = actions_of(self.events)
        for index, (at, _kind, _nodes, _begins) in enumerate(actions):
            self._push(at, ACTION, note=str(index))
        self._push(self.recorder.every, SAMPLE)  # traced or not, so that results do not differ
        horizon = self.settings.horizon
        now = self.now()  # virtual time moves only while the driver awaits: read after each
        while self._heap or self._waiting:
            head = self._heap[0] if self._heap else None
            at = head[0] if head is not None else horizon
            if at >= horizon and not self._waiting:
                break
            # The token layer may run up to SYNC behind the event handled (as a node's state
            # changes only at its timers); while a node waits for its provider, and at the
            # timeline's actions (a revocation, an outage), it runs exactly.
            exact = bool(self._waiting) or (head is not None and head[2] == ACTION)
            ahead = DUE_TOLERANCE if exact else SYNC
            if at > now + ahead:
                until = min(at, horizon) - now
                if self._waiting:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(until):  # not wait_for: cpython#86296
                            await self._wake.wait()
                else:
                    await asyncio.sleep(until)
                now = self.now()
                if now >= horizon - DUE_TOLERANCE and (at >= horizon or not self._heap):
                    break
                continue
            at, _, kind, key, generation, note = heapq.heappop(self._heap)
            if kind == ACTION:
                _, action, nodes, begins = actions[int(note)]
                await apply_event(self, action, nodes, begins)
                now = self.now()
            elif kind == SAMPLE:
                self._sample(at)
            elif kind == REQUEST:
                self._request(key, generation, int(note), at)
            else:
                self._call(key, generation, at)
            if self.ims_back_at is not None:
                self._note_recovery(at)
        for task in self._waiting:
            task.cancel()
        if self.now() < horizon:
            await asyncio.sleep(horizon - self.now())
        self.flush(horizon)
        if self.settings.trace:
            self._sample(horizon)
        for node_id in list(self.nodes):
            await self.stop_node(node_id)
        await self.stop_author()

    # --- nodes ----------------------------------------------------------------------------

    async def start_node(self, node_id: str, *, empty_disk: bool, seed: int) -> None:
        if empty_disk:  # a new or recycled instance: nothing of an earlier one on its disk
            token_file = Path(self.topology.token.state_dir) / "nodes" / f"{node_id}.token"
            token_file.unlink(missing_ok=True)
        provider = estate.publisher_tokens(self, node_id, seed)
        now = self.now()
        self._generations += 1
        report = NodeReport(self._refresher(seed), ReportState(accounted_until=now))
        self.nodes[node_id] = SimNode(node_id, provider, report, self._generations)
        self._rebalance(now)
        await provider.start()
        if self.cluster is None:
            self._push(now, CALL, node_id, self._generations)  # its visitors want a report
        elif self.cluster.state.shown == NONE and CLUSTER not in self._in_flight:
            self._push(now, CALL, CLUSTER)

    async def start_author(self) -> None:
        """The author of author-report: its own token, never in the site's traffic."""
        if not self.published or self.author is not None:
            return
        report = NodeReport(self._refresher(self.settings.seed), ReportState())
        self.author = await estate.start_author(self, report)

    async def stop_author(self) -> None:
        """Nothing is published until it is back; publishers serve the last report sent."""
        author, self.author = self.author, None
        if author is not None:
            self.flush(self.now())
            await author.provider.close()

    def _node(self, node_id: str) -> SimNode | None:
        """A publisher up now, or the author."""
        if self.author is not None and node_id == self.author.node_id:
            return self.author
        return self.nodes.get(node_id)

    async def stop_node(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            return
        now = self.now()
        self.flush(now)
        del self.nodes[node_id]
        self._in_flight.pop(node_id, None)
        self._rebalance(now)
        self.replication.stopped.add(node_id)
        await node.provider.close()

    def flush(self, now: float) -> None:
        """Count every report's requests up to ``now``."""
        for state in self._states():
            state.account(self.users, now, within(self._outages, state.accounted_until))

    def _rebalance(self, now: float) -> None:
        """The site's traffic spread over the nodes up now (it does not grow with them)."""
        self.flush(now)
        up = len(self.nodes)
        for node in self.nodes.values():
            node.report.state.rate = 0.0 if self.cluster else self.site_rate / max(1, up)
        if self.cluster is not None:
            self.cluster.state.rate = self.site_rate if up else 0.0
        if self.requests is not None and not self.policy.refresh:
            cluster = [] if self.cluster is None else [(CLUSTER, 0, self.cluster.state.rate)]
            nodes = [(n.node_id, n.generation, n.report.state.rate) for n in self.nodes.values()]
            self.requests.restart([*cluster, *nodes], now)

    def _states(self) -> list[ReportState]:
        states = [n.report.state for n in self.nodes.values()]
        return [*states, self.cluster.state] if self.cluster is not None else states

    # --- a report's call and its answer ---------------------------------------------------

    def _report(self, key: str) -> tuple[ReportState, Refresher] | None:
        if key == CLUSTER:
            cluster = self.cluster
            return None if cluster is None else (cluster.state, cluster.refresher)
        node = self.nodes.get(key)
        return None if node is None else (node.report.state, node.report.refresher)

    def _alive(self, key: str, generation: int) -> bool:
        return key == CLUSTER or (key in self.nodes and self.nodes[key].generation == generation)

    def _call(self, key: str, generation: int, at: float) -> None:
        """The report ``key`` is due at ``at``: its node calls Analytics with the token its
        provider holds, or first waits for one."""
        found = self._report(key)
        if found is None or not self._alive(key, generation) or key in self._in_flight:
            return
        state, refresher = found
        state.account(self.users, at, within(self._outages, state.accounted_until))
        caller: str | None = key
        if key == CLUSTER and self.published:  # the author, when it is up and has readers
            caller = self.author.node_id if self.author is not None and self.nodes else None
        elif key == CLUSTER:
            caller = self.cluster.caller(sorted(self.nodes)) if self.cluster else None
        if caller is None:
            self._push(at + 60.0, CALL, key, generation)  # no node up: look again later
            return
        if not refresher.scheduled or state.shown == NONE:
            state.wait(at)  # every page load, or no report yet: requests wait for this call
        flight = self._in_flight[key] = InFlight(caller, at)
        self._try(key, generation, flight, at)

    def _try(self, key: str, generation: int, flight: InFlight, at: float) -> None:
        node = self._node(flight.caller)
        if node is None:
            self._complete(key, generation, at, UNAVAILABLE, 0.0)
            return
        token = node.provider.current()
        if token is None:
            self._wait_for_token(key, generation, flight)
            return
        flight.tries += 1
        answer = self.analytics.call(flight.caller, token, at)
        for _ in range(self.tries - 1):  # naive: every waiting request calls on its own
            self.analytics.call(flight.caller, token, at)
        if answer.outcome == UNAUTHORIZED and flight.tries == 1:
            node.provider.invalidate(token)  # only that token is dropped; it gets another
            self._wait_for_token(key, generation, flight)
            return
        self._complete(key, generation, at, answer.outcome, answer.seconds)

    def _wait_for_token(self, key: str, generation: int, flight: InFlight) -> None:
        task = asyncio.create_task(self._with_token(key, generation, flight))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def _with_token(self, key: str, generation: int, flight: InFlight) -> None:
        """The caller had no usable token: wait for its provider as a real node does, then
        call at that instant (or fail, when none came within the wait)."""
        node = self._node(flight.caller)
        if node is None:
            return
        found = self._report(key)
        # Every waiting request asks for a token (one each without single-flight: naive).
        askers = self.tries if found is not None and found[0].waiting_since is not None else 1
        outcomes = await asyncio.gather(
            *(node.provider.get() for _ in range(askers)), return_exceptions=True
        )
        got = any(not isinstance(o, BaseException) for o in outcomes)
        if self._in_flight.get(key) is not flight or not self._alive(key, generation):
            return
        # Not before the call was due: the driver may handle events ahead of the loop's clock.
        at = max(self.now(), flight.started)
        if got:
            self._try(key, generation, flight, at)
        else:
            self._complete(key, generation, at, UNAVAILABLE, 0.0)

    def _complete(self, key: str, generation: int, at: float, outcome: str, seconds: float) -> None:
        """The call made at ``at`` is answered ``seconds`` later: the report takes the answer
        then (when its requests are next counted), and the next call is due after it."""
        found = self._report(key)
        self._in_flight.pop(key, None)
        if found is None:
            return
        state, refresher = found
        done = at + seconds
        state.answers(outcome, done)
        next_at = refresher.after(outcome, done)
        if not refresher.scheduled:  # the first request after it asks again
            if self.requests is not None:
                self.requests.hold(key, generation, next_at)  # request by request: from then
                return
            next_at += self.rng.expovariate(state.rate) if state.rate > 0 else 60.0
        self._push(next_at, CALL, key, generation)

    def _request(self, key: str, generation: int, epoch: int, at: float) -> None:
        """per_request: a page request at ``at``; it asks Analytics when no call is out and
        the report's hold is over (every page load), and the stream goes on."""
        requests, found = self.requests, self._report(key)
        if requests is None or found is None or epoch != requests.epoch:
            return
        if not self._alive(key, generation):
            return
        if key not in self._in_flight and requests.ends_hold(key, generation, at):
            self._call(key, generation, at)
        requests.follow(key, generation, found[0].rate, at)

    def _note_recovery(self, at: float) -> None:
        """From IMS coming back to the first moment every report is fresh again."""
        back, users = self.ims_back_at, self.users
        if back is None or users.recovery_s is not None:
            return
        if all(s.shown == FRESH for s in self._states() if s.rate):
            users.recovery_s = round(max(0.0, at - back), 1)

    def _sample(self, at: float) -> None:
        """Count the requests up to ``at`` (traced or not: a trace must not change what a run
        measures) and, when traced, record the sample."""
        self.flush(at)
        if at < self.settings.horizon:
            self._push(min(self.settings.horizon, at + self.recorder.every), SAMPLE)
        if not self.settings.trace:
            return
        providers = {n: node.provider for n, node in self.nodes.items()}
        if self.author is not None:
            providers[self.author.node_id] = self.author.provider
        self.recorder.sample(at, providers, self.analytics, self.users)
