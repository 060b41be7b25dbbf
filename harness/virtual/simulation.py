"""``harness compare --virtual 7d``: a week of the estate that topology.yaml describes, in
seconds, per design.

Each design runs on its own event loop whose clock is virtual (:mod:`harness.virtual.clock`):
``asyncio.sleep`` and every timeout move a simulated clock instead of waiting. Two layers:

* **Tokens: the real node code.** Every publisher gets the provider
  :func:`node.token.strategies.build_provider` builds for its strategy, with its coordinator,
  sealed file and store, against the in-process IMS (:mod:`harness.virtual.world`), with the
  real 86399 s lifetime. Their timers run on the virtual clock between events.
* **Traffic: discrete events** (:mod:`harness.virtual.traffic`, and the same engine in C). A
  report's call takes the token its provider holds (``current()``, without waiting); a node
  that holds none waits for its provider (``get()``) as a real one would. Requests are not
  events: each stretch of time adds its requests to what users saw (:mod:`harness.virtual.users`);
  on every page load, one draw is the wait for the request that calls (the reference, request
  by request: :mod:`harness.virtual.arrivals`).

The driver lets the engine handle the events up to what the token layer may run behind, lets
virtual time run to the next event (the providers' timers fire meanwhile), and handles what
the engine hands back: the timeline's actions, a caller with no token or a refused one, a
traced sample. The cost is per event, not per minute of simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from pathlib import Path

from tokensim_token import AccessToken, Keyring, TokenProvider
from tokensim_token.clock import Clock
from tokensim_token.refreshing import DUE_TOLERANCE

from core.topology import Topology
from harness.designs import Design
from harness.virtual import nodes as estate
from harness.virtual.analytics import UNAVAILABLE
from harness.virtual.engine import (
    DUE_ACTION,
    END,
    LATER,
    NEEDS_TOKEN,
    REFUSED_TOKEN,
    SAMPLED,
    TrafficEngine,
    TrafficSettings,
    new_traffic,
)
from harness.virtual.happenings import actions_of, apply_event
from harness.virtual.nodes import SimNode
from harness.virtual.settings import WALL_START, VirtualSettings
from harness.virtual.timeline import LIFETIME, TIMELINES, Event, EventKind
from harness.virtual.tracing import TraceRecorder
from harness.virtual.world import DirectReplication, MemoryStore, VirtualIms
from node.report_policy import ReportPolicy
from node.token.strategies import strategy
from upstream.analytics.latency import sigma_of

SYNC = 120.0  # seconds the token layer may run behind the event handled
AUTHOR = 0  # the author's caller index (a node's is its generation)


class Simulation:
    """One design's estate in virtual time: its nodes (each with its real token provider), the
    outside world, the traffic engine, and the timeline of what happens."""

    def __init__(
        self,
        design: Design,
        settings: VirtualSettings,
        topology: Topology,
        engine: str | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.design = design
        self.settings = settings
        self.topology = topology
        self.clock = Clock.of_loop(loop, wall_offset=WALL_START)
        self.rng = random.Random(settings.seed)
        self.ims = VirtualIms(self.clock, LIFETIME, settings.ims_latency, self.rng.random)
        self.replication = DirectReplication()
        self.store = MemoryStore(self.clock.wall)
        self.keyring = Keyring.generate()
        self.publishers: tuple[str, ...] = tuple(p.id for p in topology.publishers)
        self.nodes: dict[str, SimNode] = {}
        self._callers: dict[int, SimNode] = {}  # caller index -> node (or the author) up
        # Per caller, its last token's answer: (token, IMS's revocations then, the answer).
        self._accepted: dict[int, tuple[AccessToken, int, tuple[AccessToken, float]]] = {}
        self.published = topology.analytics.published
        self.author: SimNode | None = None
        self.start = loop.time()
        self.events: tuple[Event, ...] = TIMELINES[settings.scenario](
            settings.horizon, self.publishers
        )
        self.starts: list[tuple[str, float]] = []  # (node, instant) of every later start
        self.recorder = TraceRecorder(settings.horizon)
        self.policy = ReportPolicy(estate.report_cadence(topology))
        self._generations = 0
        # Analytics calls per refresh: naive has no single flight, every waiting request calls.
        self.tries = 1 if strategy(topology.token.strategy).single_flight else settings.burst
        self.traffic: TrafficEngine = new_traffic(
            self._traffic_settings(),
            rng=self.rng,
            latency_rng=random.Random(settings.seed + 1),
            cluster_rng=random.Random(settings.seed) if topology.analytics.one_report else None,
            token_of=self._token_of,
            per_request=settings.per_request,
            engine=engine,
        )
        self._wake = asyncio.Event()
        self._waiting: set[asyncio.Task[None]] = set()

    def _traffic_settings(self) -> TrafficSettings:
        settings, topology, policy = self.settings, self.topology, self.policy
        sim = topology.simulation.analytics
        latency = sim.latency if settings.latency else sim.latency.evolve(enabled=False)
        return TrafficSettings(
            horizon=settings.horizon,
            sync=SYNC,
            tolerance=DUE_TOLERANCE,
            sample_every=self.recorder.every,
            traced=settings.trace,
            site_rate=settings.rate * len(self.publishers),
            wall_start=WALL_START,
            tries=self.tries,
            published=self.published,
            outages=tuple((e.at, e.end) for e in self.events if e.kind is EventKind.IMS_OUTAGE),
            refresh=policy.refresh,
            failure_hold=policy.failure_hold,
            failure_cap=policy.failure_cap,
            throttle_base=policy.throttle_base,
            throttle_cap=policy.throttle_cap,
            jitter=topology.analytics.report_jitter,
            rate_limit=sim.rate_limit,
            latency=latency,
            latency_sigma=sigma_of(latency),
            timeout=topology.analytics.timeout,
        )

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.start

    async def run(self) -> None:
        if self.published:
            await self.start_author()
        for seed, node_id in enumerate(self.publishers, start=1):
            await self.start_node(node_id, empty_disk=True, seed=seed)
        traffic = self.traffic
        actions = actions_of(self.events)
        for index, (at, _kind, _nodes, _begins) in enumerate(actions):
            traffic.push_action(at, index)
        traffic.push_sample(self.recorder.every)  # traced or not, so results do not differ
        horizon = self.settings.horizon
        now = self.now()  # virtual time moves only while the driver awaits: read after each
        while True:
            stopped = traffic.run(now, bool(self._waiting))
            if stopped == END:
                break
            if stopped == LATER:
                # The token layer may run up to SYNC behind the event handled (as a node's
                # state changes only at its timers); while a node waits for its provider, and
                # at the timeline's actions (a revocation, an outage), it runs exactly.
                head = traffic.head_at()
                at = horizon if head is None else head
                until = min(at, horizon) - now
                if self._waiting:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(until):  # not wait_for: cpython#86296
                            await self._wake.wait()
                else:
                    await asyncio.sleep(until)
                traffic.forget_tokens()  # the providers' timers ran
                now = self.now()
                if now >= horizon - DUE_TOLERANCE and (at >= horizon or traffic.head_at() is None):
                    break
            elif stopped == DUE_ACTION:
                at, index = traffic.pop_action()
                _, action, nodes, begins = actions[index]
                await apply_event(self, action, nodes, begins)
                traffic.forget_tokens()
                now = self.now()
                traffic.note_recovery(at)
            elif stopped == SAMPLED:
                self._record()
            else:
                self._handed_back(stopped)
        for task in self._waiting:
            task.cancel()
        if self.now() < horizon:
            await asyncio.sleep(horizon - self.now())
        traffic.flush(horizon)
        if self.settings.trace:
            self.recorder.sample(horizon, self._providers(), traffic.counts())
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
        node = SimNode(node_id, provider, self._generations)
        self.nodes[node_id] = node
        self._callers[node.generation] = node
        self._sorted_callers()
        self.traffic.open_report(node.generation, random.Random(seed), now)
        await provider.start()
        self.traffic.report_wanted(node.generation, now)

    async def start_author(self) -> None:
        """The author of author-report: its own token, never in the site's traffic."""
        if not self.published or self.author is not None:
            return
        self.author = await estate.start_author(self)
        self._callers[AUTHOR] = self.author
        self.traffic.author_up = True

    async def stop_author(self) -> None:
        """Nothing is published until it is back; publishers serve the last report sent."""
        author, self.author = self.author, None
        if author is not None:
            self.traffic.flush(self.now())
            self._callers.pop(AUTHOR, None)
            self.traffic.author_up = False
            await author.provider.close()

    async def stop_node(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            return
        del self.nodes[node_id]
        del self._callers[node.generation]
        self._sorted_callers()
        self.traffic.close_report(node.generation, self.now())
        self.replication.stopped.add(node_id)
        await node.provider.close()

    def _sorted_callers(self) -> None:
        """Who calls the cluster's report, in turn: the nodes up, by name."""
        self.traffic.set_callers([self.nodes[n].generation for n in sorted(self.nodes)])

    def _providers(self) -> dict[str, TokenProvider]:
        providers = {n: node.provider for n, node in self.nodes.items()}
        if self.author is not None:
            providers[self.author.node_id] = self.author.provider
        return providers

    def _record(self) -> None:
        """A traced sample (the engine counted its requests): what a person would watch."""
        self.recorder.sample(self.traffic.stopped_at, self._providers(), self.traffic.counts())

    # --- a caller without a usable token --------------------------------------------------

    def _token_of(self, caller: int) -> tuple[AccessToken | None, float] | None:
        """The token ``caller``'s provider holds now (and until when IMS accepts it), for the
        engine's batch; None when the caller is down."""
        node = self._callers.get(caller)
        if node is None:
            return None
        token = node.provider.current()
        if token is None:
            return (None, -math.inf)
        known = self._accepted.get(caller)
        if known is None or known[0] is not token or known[1] != self.ims.revocations:
            # (IMS's answer for a token changes only at a revocation)
            until = self.ims.accepted_until(token.value.reveal())
            known = self._accepted[caller] = (token, self.ims.revocations, (token, until))
        return known[2]

    def _handed_back(self, stopped: int) -> None:
        """The engine's call needs the token layer: no usable token, or a refused one."""
        slot = self.traffic.stopped_slot
        flight = self.traffic.flight(slot)
        assert flight is not None  # the engine stopped for this call
        number, caller, _started, _waits = flight
        node = self._callers.get(caller)
        if stopped == REFUSED_TOKEN and node is not None:
            refused = self.traffic.refused
            assert refused is not None
            node.provider.invalidate(refused)  # only that token is dropped; it gets another
            self.traffic.forget_tokens()
        elif stopped != NEEDS_TOKEN:
            raise AssertionError(f"unknown stop {stopped}")
        self._wait_for_token(slot, number)

    def _wait_for_token(self, slot: int, number: int) -> None:
        task = asyncio.create_task(self._with_token(slot, number))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def _with_token(self, slot: int, number: int) -> None:
        """The caller had no usable token: wait for its provider as a real node does, then
        call at that instant (or fail, when none came within the wait)."""
        traffic = self.traffic
        flight = traffic.flight(slot)
        if flight is None:
            return
        _, caller, _, waits = flight
        node = self._callers.get(caller)
        if node is None:
            return
        # Every waiting request asks for a token (one each without single-flight: naive).
        askers = self.tries if waits else 1
        outcomes = await asyncio.gather(
            *(node.provider.get() for _ in range(askers)), return_exceptions=True
        )
        got = any(not isinstance(o, BaseException) for o in outcomes)
        flight = traffic.flight(slot)
        if flight is None or flight[0] != number:
            return
        # Not before the call was due: the driver may handle events ahead of the loop's clock.
        at = max(self.now(), flight[2])
        pushed = traffic.seq
        if got:
            stopped = traffic.try_call(slot, at)
            if stopped in (NEEDS_TOKEN, REFUSED_TOKEN):
                self._handed_back(stopped)
        else:
            traffic.complete(slot, at, UNAVAILABLE, 0.0)
        if traffic.seq != pushed and self._waiting:
            self._wake.set()  # a new event: the driver looks again
