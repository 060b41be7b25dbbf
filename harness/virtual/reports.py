"""The report layer of the virtual world: what a node's report service does (the node's own
:class:`node.reports.TopPagesService` and :class:`node.report_policy.ReportPolicy`), as
discrete events, and what the requests that came meanwhile got.

A refresh is two events: its call (with the token the node's provider holds) and, the
report's latency later, its answer. Refreshed on a schedule (``analytics.report_refresh``),
the next call comes one interval after an answer, up to ``report_jitter`` of it later at
random; after a failure, after the policy's hold. Refreshed on every page load (0), the next
call comes with the first request after the answer (or after the hold), and the requests that
arrive while a call is out wait for it. Before the first report every request waits.

Each node has its own report; with ``+shared-report`` (and the designs that publish one report
for the site) the cluster has one, refreshed by the nodes in turn, served by all of them: both
are a :class:`ReportState` and a :class:`Refresher` in the traffic engine
(:mod:`harness.virtual.traffic`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from harness.virtual.analytics import OK, THROTTLED
from harness.virtual.users import Users
from node.report_policy import ReportPolicy

FRESH, STALE, NONE = "fresh", "stale", "none"


@dataclass
class ReportState:
    """One report as its readers get it, and since when their requests were counted."""

    rate: float = 0.0  # requests per second served from this report
    shown: str = NONE  # fresh, stale (the last good one after a failure), none
    fetched_at: float = -math.inf  # when the shown report was answered (seconds since start)
    accounted_until: float = 0.0
    waiting_since: float | None = None  # requests arriving since then wait for the call out

    pending: tuple[float, int] | None = None  # the answer of the call out: (when, outcome)
    # The ages its readers saw since the last fetch, as one stretch while it goes on (each
    # count continues the last at the same rate: one stretch, not one per count; the same
    # distribution, and a week's stretches are not millions): low, high, weight, rate.
    open_low: float = 0.0
    open_high: float = 0.0
    open_weight: float = 0.0  # 0: none open
    open_rate: float = 0.0

    def account(self, users: Users, now: float, in_outage: bool) -> None:
        """Count the requests that came since the last count, taking the call's answer when
        it came before ``now``."""
        pending = self.pending
        if pending is not None and pending[0] <= now:
            self.pending = None
            self._answered(users, pending[1], pending[0], in_outage)
        if now <= self.accounted_until or self.waiting_since is not None:
            return
        start, self.accounted_until = self.accounted_until, now
        count = self.rate * (now - start)
        if self.shown == NONE:
            users.failed(count, in_outage=in_outage)
        elif count > 0:
            users.served(count, stale=self.shown == STALE, in_outage=in_outage)
            self._aged(users, start - self.fetched_at, now - self.fetched_at, count)

    def _aged(self, users: Users, low: float, high: float, count: float) -> None:
        """``count`` requests were shown the report aged ``low`` to ``high`` seconds."""
        if self.open_weight and low == self.open_high and self.rate == self.open_rate:
            self.open_high = high  # the same stretch, going on
            self.open_weight += count
            return
        self.close_ages(users)
        self.open_low, self.open_high, self.open_weight = low, high, count
        self.open_rate = self.rate

    def close_ages(self, users: Users) -> None:
        """The stretch of ages going on is over (or the run is): into what users saw."""
        if self.open_weight:
            users.ages.add(self.open_low, self.open_high, self.open_weight)
            self.open_weight = 0.0

    def wait(self, at: float) -> None:
        """From ``at`` on, requests wait for the call out (every page load, or no report)."""
        if self.waiting_since is None:  # (requests up to accounted_until are counted already)
            self.waiting_since = max(at, self.accounted_until)

    def answers(self, outcome: int, at: float) -> None:
        """The call out will be answered with ``outcome`` at ``at`` (taken when counted)."""
        self.pending = (at, outcome)

    def _answered(self, users: Users, outcome: int, at: float, in_outage: bool) -> None:
        """The call's answer came at ``at``: those who waited get it; later ones, the new one."""
        if self.waiting_since is not None:
            waited = at - self.waiting_since
            count = self.rate * waited
            users.waited(count, 0.0, waited)
            self._set(outcome, at)
            if self.shown == NONE:
                users.failed(count, in_outage=in_outage)
            elif count > 0:  # they got the new report aged 0, or the last good one as it was
                users.served(count, stale=self.shown == STALE, in_outage=in_outage)
                age = at - self.fetched_at
                users.ages.add(age, age, count)
            self.waiting_since, self.accounted_until = None, at
            return
        self.account(users, at, in_outage)
        self._set(outcome, at)

    def _set(self, outcome: int, at: float) -> None:
        if outcome == OK:
            self.shown, self.fetched_at = FRESH, at
        else:
            self.shown = STALE if self.fetched_at > -math.inf else NONE


@dataclass
class Refresher:
    """When the next call is due: the node's report policy (cadence, jitter, holds)."""

    policy: ReportPolicy
    jitter: float
    rng: random.Random
    throttled: int = 0  # 429s in a row
    failures: int = 0  # other failures in a row
    hold_until: float = -math.inf
    scheduled: bool = field(init=False)  # refreshed on a schedule (else on every page load)

    def __post_init__(self) -> None:
        self.scheduled = self.policy.refresh > 0

    def after(self, outcome: int, at: float) -> float:
        """Record the answer that came at ``at``; when the next call may start."""
        policy = self.policy
        if outcome == OK:
            self.throttled = self.failures = 0
            if self.scheduled:
                return at + policy.refresh * (1.0 + self.rng.uniform(0.0, self.jitter))
            return at
        if outcome == THROTTLED:
            self.throttled += 1
            self.hold_until = at + policy.hold_after_throttle(self.throttled, self.rng)
        else:
            self.failures += 1
            self.hold_until = at + policy.hold_after_failure(self.failures)
        if self.scheduled:
            return max(self.hold_until, at + policy.failure_hold)
        return self.hold_until
