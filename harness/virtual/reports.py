"""The report layer of the virtual world: what a node's report service does when its report is
due, as discrete events (no coroutine per request), and what users saw.

:class:`NodeReport` is one node's own report (``report_sharing: per-node``);
:class:`ClusterReport` is the cluster's one report (``+shared-report``): the node whose turn
it is refreshes it under a lease and every node serves it. Both follow
:class:`node.report_policy.ReportPolicy`, the node's own policy: reuse for ``cache_ttl``, a
short hold after a failure, a jittered back-off after a 429 (never a token call for one); a
401 drops the token (``invalidate``) and the node asks its provider for a new one.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field

from tokensim_token import TokenProvider

from harness.virtual.world import OK, THROTTLED, UNAUTHORIZED, VirtualAnalytics
from node.report_policy import ReportPolicy

FRESH, STALE, NONE, FIRST = "fresh", "stale", "none", "first"


@dataclass
class ReportState:
    """What one report's readers are served, and since when requests were counted."""

    rate: float = 0.0  # requests per second served from this report
    # fresh, stale, none (no report after a failed first call: users get an error), or first
    # (a node just started: its first report is on its way, and requests wait for it)
    shown: str = FIRST
    accounted_until: float = 0.0


@dataclass
class Users:
    """What users saw, counted per request (fractions of requests are fine: rates)."""

    latency_ms: int  # of a request that waits for a report call
    fresh: float = 0.0
    stale: float = 0.0
    errors: float = 0.0
    waits: Counter[int] = field(default_factory=Counter)  # latency (ms) -> requests
    outage: dict[str, float] = field(  # during the IMS outage
        default_factory=lambda: {"requests": 0.0, "served": 0.0, "fresh": 0.0}
    )
    recovery_s: float | None = None

    @property
    def total(self) -> float:
        return self.fresh + self.stale + self.errors

    def account(self, report: ReportState, now: float, in_outage: bool) -> None:
        """Count the requests ``report`` served since it was last counted."""
        if now <= report.accounted_until:
            return  # counted already (the driver may handle an instant before an earlier one)
        count = report.rate * (now - report.accounted_until)
        report.accounted_until = now
        if not count:
            return
        if report.shown in (FRESH, FIRST):
            self.fresh += count
        elif report.shown == STALE:
            self.stale += count
        else:
            self.errors += count
        if in_outage:
            self.outage["requests"] += count
            self.outage["served"] += count if report.shown != NONE else 0
            self.outage["fresh"] += count if report.shown in (FRESH, FIRST) else 0

    def refreshed(self, requests: int) -> None:
        """``requests`` waited for a report call (Analytics' latency)."""
        self.waits[self.latency_ms] += requests

    def waited(self, requests: int, seconds: float) -> None:
        """``requests`` waited ``seconds`` for a token, then for the report call."""
        self.waits[round(seconds * 1000) + self.latency_ms] += requests

    def outage_share(self, kind: str) -> float | None:
        asked = self.outage["requests"]
        return None if not asked else self.outage[kind] / asked

    def ecdf(self) -> tuple[tuple[float, float], ...]:
        """(latency ms, share of requests at or below it), cache hits at 0 ms."""
        total = self.total
        if not total:
            return ()
        seen = total - sum(self.waits.values())
        points = [(0.0, seen / total)]
        for value in sorted(self.waits):
            seen += self.waits[value]
            points.append((float(value), seen / total))
        return tuple(points)

    def percentile(self, q: float) -> float:
        """Over every request; those served from the cache took 0 ms."""
        total = self.total
        if not total:
            return 0.0
        rank = q * total
        instant = total - sum(self.waits.values())
        if rank <= instant:
            return 0.0
        seen = instant
        for value in sorted(self.waits):
            seen += self.waits[value]
            if seen >= rank:
                return float(value)
        return float(max(self.waits))


@dataclass
class Refresher:
    """The state of refreshing one report: when it was fetched, how many 429s in a row."""

    policy: ReportPolicy
    rng: random.Random
    report: ReportState = field(default_factory=ReportState)
    fetched_at: float = -math.inf
    throttled: int = 0
    failures: int = 0

    def after(self, outcome: str, at: float) -> float:
        """Record the answer to a report call made at ``at``; when the next call is due."""
        policy = self.policy
        if outcome == OK:
            self.fetched_at, self.throttled, self.failures = at, 0, 0
            self.report.shown = FRESH
            return at + policy.cache_ttl
        self.report.shown = STALE if self.fetched_at > -math.inf else NONE
        if outcome == THROTTLED:
            self.throttled += 1
            return at + policy.hold_after_throttle(self.throttled, self.rng)
        self.failures += 1
        return at + policy.hold_after_failure(self.failures)


def call(
    caller: str, provider: TokenProvider, analytics: VirtualAnalytics, at: float, tries: int
) -> str | None:
    """``caller``'s report call(s) at ``at`` with the token its provider holds; None when there
    is none to use (the node then waits for its provider, as a real node's requests do)."""
    token = provider.current()
    if token is None:
        return None
    outcome = OK
    for _ in range(tries):  # the naive design: every waiting request calls on its own
        outcome = analytics.call(caller, token, at)
    if outcome == UNAUTHORIZED:
        provider.invalidate(token)  # only that token is dropped; the provider gets another
        return None
    return outcome


@dataclass
class NodeReport:
    """One node's own report."""

    node_id: str
    refresher: Refresher

    @property
    def report(self) -> ReportState:
        return self.refresher.report

    def due(
        self,
        provider: TokenProvider,
        analytics: VirtualAnalytics,
        at: float,
        users: Users,
        tries: int,
    ) -> float | None:
        """The report is due at ``at``: refresh it. The next instant it is due, or None when
        the node must first wait for a token."""
        outcome = call(self.node_id, provider, analytics, at, tries)
        if outcome is None:
            return None
        users.refreshed(tries)
        return self.refresher.after(outcome, at)


@dataclass
class ClusterReport:
    """The cluster's one report: refreshed by one node at a time (under the lease), served by
    every node. Its back-off after a 429 is the cluster's: no node calls while it holds."""

    refresher: Refresher
    lease_ttl: float = 30.0
    next_refresh: float = -math.inf
    lease: tuple[str, float] | None = None  # who refreshes it now, and until when at most

    @property
    def report(self) -> ReportState:
        return self.refresher.report

    def due(
        self,
        node_id: str,
        provider: TokenProvider,
        analytics: VirtualAnalytics,
        at: float,
        users: Users,
    ) -> float | None:
        """``node_id``'s copy is due at ``at``: adopt the cluster's report while it is fresh
        (or while the cluster holds back), else take the lease and refresh it."""
        if at < self.next_refresh:
            return self.next_refresh  # adopt: no call
        lease = self.lease
        if lease is not None and lease[0] != node_id and at < lease[1]:
            return at + 1.0  # another node is refreshing it (getting a new token, say)
        self.lease = (node_id, at + self.lease_ttl)
        outcome = call(node_id, provider, analytics, at, 1)
        if outcome is None:
            return None  # it keeps the lease while it waits for its provider
        self.lease = None
        users.refreshed(1)
        self.next_refresh = self.refresher.after(outcome, at)
        return self.next_refresh
