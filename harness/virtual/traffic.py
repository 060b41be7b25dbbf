"""The traffic of the virtual world: reports, their calls to Analytics and what users saw, as
discrete events on one heap, handled in batches between the token layer's turns.

The simulation (:mod:`harness.virtual.simulation`) owns the token layer: every publisher's real
provider on the virtual clock, IMS, the timeline. This engine owns everything else: each
report's state and refresher (:mod:`harness.virtual.reports`), the calls out, Analytics
(:mod:`harness.virtual.analytics`), the users' counts (:mod:`harness.virtual.users`) and the
heap of events (report calls, the timeline's actions, the samples). :meth:`Traffic.run` handles
events until one needs the token layer, or lies beyond what the token layer has reached:

* between two of the token layer's turns nothing of it runs, so a caller's token (its
  provider's ``current()``) is the same for every call of a batch: it is asked once per batch,
  through ``token_of``, the first time the caller calls;
* a caller with no usable token, a 401 (the token must be dropped and another awaited), an
  action of the timeline and a traced sample are handed back to the simulation.

Two engines do this, with the same methods and the same results to the last bit: this one,
the reference (readable, and the only one with page requests as events, ``per_request``), and
:mod:`harness.virtual._traffic`, the same in C (:mod:`harness.virtual.engine` picks one;
``tests/harness/test_traffic_engines.py`` runs both).

Slots: a report is a slot, ``CLUSTER`` (0) for the cluster's one report and a node's
generation (1, 2, ...: each start of a node is a new one) for a node's own. Callers are the
node's generation too, and ``AUTHOR`` (0) for the author of author-report.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from tokensim_token import AccessToken

from harness.virtual.analytics import UNAUTHORIZED, UNAVAILABLE, VirtualAnalytics
from harness.virtual.arrivals import RequestStreams
from harness.virtual.engine import (
    CALL,
    DONE,
    DUE_ACTION,
    END,
    LATER,
    NEEDS_TOKEN,
    REFUSED_TOKEN,
    REQUEST,
    SAMPLE,
    SAMPLED,
    TokenOf,
    TrafficCounts,
    TrafficSettings,
)
from harness.virtual.reports import FRESH, NONE, Refresher, ReportState
from harness.virtual.timeline import within
from harness.virtual.users import Users
from node.report_policy import ReportPolicy

CLUSTER = 0  # the slot of the cluster's one report
AUTHOR = 0  # the caller index of the author


@dataclass
class InFlight:
    """A report's call that is out, or waiting for a token first."""

    caller: int
    started: float  # when it was due
    number: int  # which call of the run (the simulation tells a newer one from it)
    tries: int = 0  # calls made (a 401 makes a second one, with a new token)


@dataclass
class Slot:
    caller: int  # a node's report: the node; the cluster's: -1 (chosen at each call)
    state: ReportState
    refresher: Refresher
    flight: InFlight | None = None


class Traffic:
    """The reference traffic engine (see the module's docstring)."""

    def __init__(
        self,
        settings: TrafficSettings,
        *,
        rng: random.Random,
        latency_rng: random.Random,
        cluster_rng: random.Random | None,
        token_of: TokenOf,
        per_request: bool = False,
    ) -> None:
        self.settings = settings
        self._rng = rng
        self._token_of = token_of
        self._policy = ReportPolicy(
            settings.refresh,
            settings.failure_hold,
            settings.failure_cap,
            settings.throttle_base,
            settings.throttle_cap,
        )
        self._analytics = VirtualAnalytics(
            settings.rate_limit,
            settings.latency,
            wall_start=settings.wall_start,
            timeout=settings.timeout,
            rng=latency_rng,
        )
        self.users = Users()
        self._slots: dict[int, Slot] = {}  # the nodes' reports, in the order they opened
        self._cluster = (
            Slot(-1, ReportState(), self._refresher(cluster_rng))
            if cluster_rng is not None
            else None
        )
        self._callers: list[int] = []  # the nodes up, in the order of their names
        self._turn = 0  # which of them calls the cluster's report next
        self.author_up = False
        self.ims_back_at: float | None = None
        self._heap: list[tuple[float, int, int, int, int]] = []  # (at, seq, kind, slot, aux)
        self.seq = 0  # events pushed so far
        self._flights = 0
        self._tokens: dict[int, tuple[AccessToken | None, float] | None] = {}  # this batch's
        self.refused: AccessToken | None = None  # the token of the last REFUSED_TOKEN
        self.stopped_slot = 0  # the slot that the last NEEDS_TOKEN or REFUSED_TOKEN was for
        self.stopped_at = 0.0  # the instant of the event the last batch stopped after
        self._requests = (  # every page request its own event: the reference
            RequestStreams(rng, lambda at, slot, epoch: self._push(at, REQUEST, slot, epoch))
            if per_request
            else None
        )

    def _refresher(self, rng: random.Random) -> Refresher:
        return Refresher(self._policy, self.settings.jitter, rng)

    # --- the heap ---------------------------------------------------------------------------

    def _push(self, at: float, kind: int, slot: int = 0, aux: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self._heap, (at, self.seq, kind, slot, aux))

    def push_action(self, at: float, index: int) -> None:
        self._push(at, 2, 0, index)

    def push_sample(self, at: float) -> None:
        self._push(at, SAMPLE)

    def head_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_action(self) -> tuple[float, int]:
        """The action at the head of the heap (after :meth:`run` said DUE_ACTION): (at, index)."""
        at, _, _, _, index = heapq.heappop(self._heap)
        return at, index

    # --- the batch --------------------------------------------------------------------------

    def run(self, now: float, waiting: bool) -> int:
        """Handle the events due by ``now`` (the token layer's clock) plus what it may run
        behind (``sync``; ``tolerance`` when a task waits for a token or an action is next),
        until one needs the simulation. Returns why it stopped. The tokens asked for are kept
        until :meth:`forget_tokens`."""
        heap, settings = self._heap, self.settings
        horizon = settings.horizon
        while True:
            if not heap:
                return LATER if waiting else END
            at, _, kind, slot, aux = heap[0]
            if at >= horizon and not waiting:
                return END
            exact = waiting or kind == 2
            if at > now + (settings.tolerance if exact else settings.sync):
                return LATER
            if kind == 2:
                return DUE_ACTION
            heapq.heappop(heap)
            code = DONE
            if kind == SAMPLE:
                code = self._sample(at)
            elif kind == REQUEST:
                code = self._request(slot, aux, at)
            else:
                code = self._call(slot, at)
            if self.ims_back_at is not None:
                self.note_recovery(at)
            if code != DONE:
                self.stopped_at = at
                return code

    def _sample(self, at: float) -> int:
        """Count the requests up to ``at`` (traced or not: a trace must not change what a run
        measures); the next sample; SAMPLED when the simulation records it."""
        self.flush(at)
        horizon = self.settings.horizon
        if at < horizon:
            self._push(min(horizon, at + self.settings.sample_every), SAMPLE)
        return SAMPLED if self.settings.traced else DONE

    # --- a report's call and its answer -----------------------------------------------------

    def _slot(self, slot: int) -> Slot | None:
        return self._cluster if slot == CLUSTER else self._slots.get(slot)

    def _call(self, slot_id: int, at: float) -> int:
        """The report ``slot_id`` is due at ``at``: its caller calls Analytics with the token
        its provider holds, or first waits for one."""
        slot = self._slot(slot_id)
        if slot is None or slot.flight is not None:
            return DONE
        state = slot.state
        state.account(self.users, at, within(self.settings.outages, state.accounted_until))
        caller: int | None = slot.caller
        if slot_id == CLUSTER and self.settings.published:  # the author, up and with readers
            caller = AUTHOR if self.author_up and self._callers else None
        elif slot_id == CLUSTER:
            caller = self._next_caller()
        if caller is None:
            self._push(at + 60.0, CALL, slot_id)  # no node up: look again later
            return DONE
        if not slot.refresher.scheduled or state.shown == NONE:
            state.wait(at)  # every page load, or no report yet: requests wait for this call
        self._flights += 1
        slot.flight = InFlight(caller, at, self._flights)
        return self._try(slot_id, slot, at)

    def _next_caller(self) -> int | None:
        callers = self._callers
        if not callers:
            return None
        self._turn += 1
        return callers[self._turn % len(callers)]

    def forget_tokens(self) -> None:
        """The token layer ran (the driver awaited, a token was dropped): ask again."""
        self._tokens.clear()

    def try_call(self, slot_id: int, at: float) -> int:
        """The call out of ``slot_id`` after its caller waited for a token (the simulation's
        task): call at ``at`` with the token it holds now."""
        self._tokens.clear()
        slot = self._slot(slot_id)
        if slot is None or slot.flight is None:
            return DONE
        return self._try(slot_id, slot, at)

    def _try(self, slot_id: int, slot: Slot, at: float) -> int:
        flight = slot.flight
        assert flight is not None  # (the caller set it)
        caller = flight.caller
        if caller not in self._tokens:
            self._tokens[caller] = self._token_of(caller)
        held = self._tokens[caller]
        if held is None:  # the caller is down
            self.complete(slot_id, at, UNAVAILABLE, 0.0)
            return DONE
        token, accepted_until = held
        if token is None:
            self.stopped_slot = slot_id
            return NEEDS_TOKEN
        flight.tries += 1
        analytics = self._analytics
        answer = analytics.call(accepted_until, at)
        for _ in range(self.settings.tries - 1):  # naive: every waiting request calls on its own
            analytics.call(accepted_until, at)
        if answer.outcome == UNAUTHORIZED and flight.tries == 1:
            self.refused, self.stopped_slot = token, slot_id
            return REFUSED_TOKEN  # only that token is dropped; it gets another
        self.complete(slot_id, at, answer.outcome, answer.seconds)
        return DONE

    def complete(self, slot_id: int, at: float, outcome: int, seconds: float) -> None:
        """The call made at ``at`` is answered ``seconds`` later: the report takes the answer
        then (when its requests are next counted), and the next call is due after it."""
        slot = self._slot(slot_id)
        if slot is None:
            return
        slot.flight = None
        state, refresher = slot.state, slot.refresher
        done = at + seconds
        state.answers(outcome, done)
        next_at = refresher.after(outcome, done)
        if not refresher.scheduled:  # the first request after it asks again
            if self._requests is not None:
                self._requests.hold(slot_id, next_at)  # request by request: from then
                return
            next_at += self._rng.expovariate(state.rate) if state.rate > 0 else 60.0
        self._push(next_at, CALL, slot_id)

    def _request(self, slot_id: int, epoch: int, at: float) -> int:
        """per_request: a page request at ``at``; it asks Analytics when no call is out and
        the report's hold is over (every page load), and the stream goes on."""
        requests, slot = self._requests, self._slot(slot_id)
        if requests is None or slot is None or epoch != requests.epoch:
            return DONE
        code = DONE
        if slot.flight is None and requests.ends_hold(slot_id, at):
            code = self._call(slot_id, at)
        requests.follow(slot_id, slot.state.rate, at)
        return code

    # --- what the simulation asks about a call out ------------------------------------------

    def flight(self, slot_id: int) -> tuple[int, int, float, bool] | None:
        """The call out of ``slot_id``: (its number, caller, when it was due, whether requests
        wait for it), or None."""
        slot = self._slot(slot_id)
        if slot is None or slot.flight is None:
            return None
        f = slot.flight
        return f.number, f.caller, f.started, slot.state.waiting_since is not None

    # --- the estate changes -----------------------------------------------------------------

    def open_report(self, slot_id: int, rng: random.Random, now: float) -> None:
        """A node starts (its generation ``slot_id``): its own report, nothing shown yet."""
        self._slots[slot_id] = Slot(slot_id, ReportState(accounted_until=now), self._refresher(rng))
        self._rebalance(now)

    def report_wanted(self, slot_id: int, now: float) -> None:
        """The node ``slot_id`` is up: its visitors want a report (its own, or the cluster's
        when there is none yet and no call is out)."""
        cluster = self._cluster
        if cluster is None:
            self._push(now, CALL, slot_id)
        elif cluster.state.shown == NONE and cluster.flight is None:
            self._push(now, CALL, CLUSTER)

    def close_report(self, slot_id: int, now: float) -> None:
        """The node ``slot_id`` stops: its report and its call out go with it."""
        self.flush(now)
        self._slots.pop(slot_id).state.close_ages(self.users)
        self._rebalance(now)

    def set_callers(self, callers: list[int]) -> None:
        """The nodes up, in the order of their names (who calls the cluster's report)."""
        self._callers = list(callers)

    def flush(self, now: float) -> None:
        """Count every report's requests up to ``now``."""
        outages, users = self.settings.outages, self.users
        for state in self._states():
            state.account(users, now, within(outages, state.accounted_until))

    def _rebalance(self, now: float) -> None:
        """The site's traffic spread over the nodes up now (it does not grow with them)."""
        self.flush(now)
        up = len(self._slots)
        site_rate = self.settings.site_rate
        cluster = self._cluster
        for slot in self._slots.values():
            slot.state.rate = 0.0 if cluster else site_rate / max(1, up)
        if cluster is not None:
            cluster.state.rate = site_rate if up else 0.0
        if self._requests is not None and self.settings.refresh <= 0:
            streams = [] if cluster is None else [(CLUSTER, cluster.state.rate)]
            streams += [(s, slot.state.rate) for s, slot in self._slots.items()]
            self._requests.restart(streams, now)

    def _states(self) -> list[ReportState]:
        states = [s.state for s in self._slots.values()]
        return [*states, self._cluster.state] if self._cluster is not None else states

    def note_recovery(self, at: float) -> None:
        """From IMS coming back to the first moment every report is fresh again."""
        back, users = self.ims_back_at, self.users
        if back is None or users.recovery_s is not None:
            return
        if all(s.shown == FRESH for s in self._states() if s.rate):
            users.recovery_s = max(0.0, at - back)

    # --- what it counted --------------------------------------------------------------------

    def set_outage(self, down: bool) -> None:
        self._analytics.outage = down

    def counts(self) -> TrafficCounts:
        a, users = self._analytics, self.users
        return TrafficCounts(
            by_outcome=tuple(a.by_outcome),
            per_minute_peak=max(a.per_minute.values(), default=0),
            stale=users.stale,
            errors=users.errors,
        )

    def seen(self) -> Users:
        """What users saw (at the end of the run: the ages going on are closed)."""
        for state in self._states():
            state.close_ages(self.users)
        return self.users
