"""What one load run collected (:class:`RunData`), and the invariants judged on it: each
returns whether it held and what was measured."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.load.facts import Happened, Measured, StepKind, when
from harness.load.locust_run import LocustResult
from harness.results import Trace
from node.token.strategies import strategy

RESTART_SLACK = 1.5  # seconds: process start-up, and the IMS log's time vs the node's clock
SEND_SLACK = 0.25  # seconds: a node sends its token call this long at most before IMS sees it


def _reached_ims(issued: dict[str, Any]) -> float:
    """When the request for an entry of IMS's issue log reached IMS (``asked``), before its
    latency and queue; when it was issued for an entry that does not say."""
    return float(issued.get("asked", issued["at"]))


@dataclass
class RunData:
    """Everything collected from one run, for the invariants and the report."""

    scenario: str
    strategy: str
    lifetime: float
    duration: float
    users: int
    publishers: list[str]
    refresh_at: float
    refresh_jitter: float
    retry_cap: float
    expiry_margin: float
    locust: LocustResult
    ims: dict[str, Any]
    analytics: dict[str, Any]
    lb: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    events: list[Happened]  # each step of the timeline, with when it happened (wall clock)
    measured: Measured
    started_wall: float
    collected_wall: float
    trace: Trace | None = None  # the run over time, for the report's figures
    exits: tuple[str, ...] | None = None  # services that exited unasked; None: not watched
    # Who holds a token and calls IMS: the publishers, or (author-report) the author alone.
    token_holders: list[str] | None = None

    @property
    def holders(self) -> list[str]:
        return self.publishers if self.token_holders is None else self.token_holders

    def tokens_issued(
        self, node: str, *, after: float | None = None, asked_after: bool = False
    ) -> int:
        """Tokens IMS issued ``node``, those issued at or after ``after`` when given; with
        ``asked_after``, those whose request reached IMS at or after it instead (a request
        that arrived before it may be issued later: IMS's latency, its queue)."""
        log = self.ims.get("issued_log", [])
        return sum(
            1
            for e in log
            if e["caller"] == node
            and (after is None or (_reached_ims(e) if asked_after else e["at"]) >= after)
        )

    def max_calls_per_node(self) -> int:
        """One call at start, then one per proactive refresh (at refresh_at of the lifetime),
        over the whole time IMS was issuing: from the first token until collection."""
        times = [e["at"] for e in self.ims.get("issued_log", [])]
        span = (self.collected_wall - min(times)) if times else self.duration
        return 1 + math.floor(span / (self.lifetime * self.refresh_at))

    def when(self, kind: StepKind, node: str | None = None) -> float:
        """When the first step of ``kind`` (for ``node``) happened; inf if it never did."""
        at = when(self.events, kind, node)
        return math.inf if at is None else at

    def stale_served(self) -> int:
        return sum(int(n.get("reports", {}).get("stale", 0)) for n in self.nodes.values())


Check = Callable[[RunData], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class Invariant:
    name: str
    check: Check


# --- invariants ------------------------------------------------------------------------------


def no_user_errors(d: RunData) -> tuple[bool, str]:
    reasons = ", ".join(f"{n} x {r}" for r, n in d.locust.failures_by_reason.most_common(3))
    return d.locust.failures == 0 and d.locust.requests > 0, (
        f"{d.locust.failures} failed of {d.locust.requests}" + (f" ({reasons})" if reasons else "")
    )


def no_service_died(d: RunData) -> tuple[bool, str]:
    if d.exits is None:
        return True, "not watched (an estate the run did not start)"
    return not d.exits, "; ".join(d.exits) or "none exited unasked"


def no_token_leak(d: RunData) -> tuple[bool, str]:
    leaks = sum(n for r, n in d.locust.failures_by_reason.items() if "token leaked" in r)
    return leaks == 0, f"{leaks} responses with a token"


def pages_in_order(d: RunData) -> tuple[bool, str]:
    bad = sum(n for r, n in d.locust.failures_by_reason.items() if "descending" in r)
    return bad == 0, f"{bad} responses out of order"


def sessions_stay(d: RunData, allowed_from: frozenset[str]) -> tuple[bool, str]:
    moves = d.locust.moves
    foreign = {m: n for m, n in moves.items() if m.split("->")[0] not in allowed_from}
    total = sum(moves.values())
    text = f"{total} session moves" + (f" ({dict(moves)})" if moves else "")
    return not foreign, text


def token_calls_near_minimum(d: RunData) -> tuple[bool, str]:
    """Per-node designs: each node at most start + one per refresh cycle. One token for the
    cluster (shared, scheduled): the whole cluster at most that."""
    calls = {n: d.tokens_issued(n) for n in d.holders}
    ceiling = d.max_calls_per_node()
    if strategy(d.strategy).cluster_token:
        total = sum(calls.values())
        return 0 < total <= ceiling, (
            f"cluster {total} {calls}, at most {ceiling} expected for one cluster token"
        )
    return all(0 < c <= ceiling for c in calls.values()), (
        f"per node {calls}, at most {ceiling} expected (start + one per {d.refresh_at:.0%} "
        f"of the lifetime)"
    )


def one_token_call_at_a_time_per_node(d: RunData) -> tuple[bool, str]:
    peak = int(d.ims.get("peak_in_flight", 0))
    return peak <= len(d.holders), f"peak {peak} concurrent token calls, {len(d.holders)} nodes"


def no_analytics_401(d: RunData) -> tuple[bool, str]:
    n = sum(d.analytics.get("unauthorized_by_caller", {}).values())
    return n == 0, f"{n} Analytics 401s"


def every_node_has_a_valid_token(d: RunData) -> tuple[bool, str]:
    states = {n: s["token"]["state"] for n, s in d.nodes.items() if n in d.holders}
    if not states:  # author-report: no publisher holds a token
        return True, "no publisher holds a token (the author publishes the report)"
    return all(s != "invalid" for s in states.values()), f"final states {states}"


def recovered_quickly(d: RunData) -> tuple[bool, str]:
    seconds = d.measured.recovery_s if d.measured.recovery_s is not None else math.inf
    limit = d.retry_cap + 2.0
    return (
        seconds <= limit,
        f"all nodes had a new token {seconds:.1f}s after IMS returned (limit {limit:.0f}s)",
    )


def one_refresh_after_revocation(d: RunData) -> tuple[bool, str]:
    """The revocation costs each node one token call: count the calls in the 0.6 lifetime
    after it (a node learns of it at its next report call: a report cache, which runs keep
    within Analytics' budget, plus a visitor's think time; a proactive refresh that happened
    to fall there may add one)."""
    revoked = d.when(StepKind.REVOKE)
    window = revoked + 0.6 * d.lifetime
    after = {
        n: d.tokens_issued(n, after=revoked) - d.tokens_issued(n, after=window)
        for n in d.publishers
    }
    refused = d.analytics.get("unauthorized_by_caller", {})
    return all(1 <= c <= 2 for c in after.values()), (
        f"tokens per node in the 0.6 lifetime after revocation {after}; "
        f"Analytics 401s per node {refused}"
    )


def restarted_node_reused_its_token(d: RunData) -> tuple[bool, str]:
    """A restarted node must reuse its sealed token when it had well over the margin left,
    and must not trust it when it had clearly less; near the line either is right."""
    restart = d.measured.restart_of("p2")
    calls = restart.token_calls if restart is not None else math.inf
    if "p2" not in d.holders:  # author-report: a publisher holds no token to restore
        return calls == 0, f"p2 holds no token: {calls:g} token calls on start"
    restored = restart is not None and restart.restored
    killed = d.when(StepKind.KILL, "p2")
    restarted = d.when(StepKind.RESTART, "p2")
    # Its token's age counts from when its request reached IMS: the node counts from when it
    # sent it, a little earlier, and IMS issues it later still (its latency, its queue).
    asked = [
        _reached_ims(e)
        for e in d.ims.get("issued_log", [])
        if e["caller"] == "p2" and e["at"] < killed
    ]
    left = d.lifetime - (restarted - max(asked)) if asked else -math.inf
    margin = min(d.expiry_margin, d.lifetime / 5)
    did = (
        f"{'restored' if restored else 'did not restore'} its sealed token, "
        f"{calls:g} token calls on start"
    )
    text = f"p2 {did} (its token had {left:.1f}s left at the restart, margin {margin:.1f}s)"
    if left > margin + RESTART_SLACK:
        # No call on start, unless the token's own refresh (at refresh_at of the lifetime at
        # the earliest, counted from when the node sent its request) fell due before its count
        # was read (a slow start on a busy machine): then that one scheduled call.
        counted = restart.counted_at if restart is not None else math.inf
        age = counted - max(asked)
        due = age + SEND_SLACK >= d.lifetime * d.refresh_at
        if due:
            text += f"; its refresh was due before its count was read ({age:.1f}s old)"
        return restored and calls <= (1 if due else 0), text
    if left < margin - RESTART_SLACK:
        return not restored, text
    return True, text


def failures_within_budget(d: RunData) -> tuple[bool, str]:
    budget = d.users  # at most the requests in flight when the publisher died
    return d.locust.failures <= budget, (
        f"{d.locust.failures} failed of {d.locust.requests} (budget {budget}: the requests "
        f"in flight when an instance went away)"
    )


def served_stale_reports(d: RunData) -> tuple[bool, str]:
    stale = d.stale_served()
    return stale > 0, f"{stale} stale reports served instead of errors"


def no_token_call_while_cut_off(d: RunData) -> tuple[bool, str]:
    """The partition really held: no request p2 sent while it could not reach IMS got there.
    Judged by when each request reached IMS: one that arrived just before the cut is issued
    its token after it (IMS's latency, 150 ms in the demo, and its queue on a busy machine)."""
    partition = d.measured.partition
    cut, healed = d.when(StepKind.CUT_OFF, "p2"), d.when(StepKind.HEAL, "p2")
    if partition is not None and partition.cut_at is not None:
        cut = partition.cut_at  # when the cut was in place, not when its step began
    if partition is not None and partition.healed_at is not None:
        healed = partition.healed_at
    during = d.tokens_issued("p2", after=cut, asked_after=True) - d.tokens_issued(
        "p2", after=healed, asked_after=True
    )
    return during == 0, f"{during} tokens issued to p2 for requests sent while it was cut off"


def what_the_cut_off_node_served(d: RunData) -> tuple[bool, str]:
    """Not a pass/fail line: what each design gives p2's users (they still reach p2)."""
    cut = d.measured.partition
    stale = math.nan if cut is None or cut.stale_during is None else cut.stale_during
    failed = math.nan if cut is None or cut.failed_during is None else cut.failed_during
    valid = None if cut is None else cut.token_valid_at_heal
    state = {True: "valid", False: "invalid", None: "?"}[valid]
    return True, (
        f"p2 served {stale:g} stale reports while cut off, made {failed:g} failed token "
        f"calls, and its token was {state} when IMS came back"
    )


def token_calls_per_start(d: RunData) -> tuple[bool, str]:
    """AEM as a Cloud Service: a new or recycled instance starts with an empty disk. Per-node
    designs pay one token call per instance start; one cluster token (shared, ...) none after
    the first."""
    starts = len(d.measured.starts)
    per_start = d.measured.token_calls_per_start
    if per_start is None:
        return False, "no instance started"
    calls = sum(s.token_calls for s in d.measured.starts)
    cluster = strategy(d.strategy).cluster_token
    expected = "0 (the cluster's token)" if cluster else "1 (an empty disk)"
    held = per_start <= 0.25 if cluster else 0.75 <= per_start <= 1.5
    return held, f"{calls:.0f} calls over {starts:.0f} starts ({per_start:.2f} each; {expected})"
