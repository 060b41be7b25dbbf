"""The load scenarios: a load, a fault timeline, and the invariants that must hold.

Times are in token lifetimes (``L``), so a smoke run with 4 s tokens and a real run with 20 s
tokens follow the same script. Each invariant returns whether it held and what was measured.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.estate.control import EstateControl
from harness.load.locust_run import LocustResult


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
    events: dict[str, float]  # wall-clock time of each timeline action
    measured: dict[str, float]
    started_wall: float
    collected_wall: float

    def tokens_issued(self, node: str, *, after: float | None = None) -> int:
        log = self.ims.get("issued_log", [])
        return sum(1 for e in log if e["caller"] == node and (after is None or e["at"] >= after))

    def max_calls_per_node(self) -> int:
        """One call at start, then one per proactive refresh (at refresh_at of the lifetime),
        over the whole time IMS was issuing: from the first token until collection."""
        times = [e["at"] for e in self.ims.get("issued_log", [])]
        span = (self.collected_wall - min(times)) if times else self.duration
        return 1 + math.floor(span / (self.lifetime * self.refresh_at))

    def stale_served(self) -> int:
        return sum(int(n.get("reports", {}).get("stale", 0)) for n in self.nodes.values())


CLUSTER_TOKEN = frozenset({"shared", "replicated", "scheduled"})
RESTART_SLACK = 1.5  # seconds: process start-up, and the IMS log's time vs the node's clock
Check = Callable[[RunData], tuple[bool, str]]
Action = Callable[[EstateControl], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Invariant:
    name: str
    check: Check


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # in lifetimes since the load started
    label: str
    action: Action


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    lifetimes: float
    invariants: tuple[Invariant, ...]
    timeline: tuple[Step, ...] = ()
    shape: str | None = None
    allowed_moves_from: frozenset[str] = field(default_factory=frozenset)
    needs_own_estate: bool = False  # it kills and restarts processes
    needs_hosts: bool = False  # it cuts a host off the network: publishers on hosts (--hosts)


# --- invariants ------------------------------------------------------------------------------


def no_user_errors(d: RunData) -> tuple[bool, str]:
    reasons = ", ".join(f"{n} x {r}" for r, n in d.locust.failures_by_reason.most_common(3))
    return d.locust.failures == 0 and d.locust.requests > 0, (
        f"{d.locust.failures} failed of {d.locust.requests}" + (f" ({reasons})" if reasons else "")
    )


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
    calls = {n: d.tokens_issued(n) for n in d.publishers}
    ceiling = d.max_calls_per_node()
    if d.strategy in CLUSTER_TOKEN:
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
    return peak <= len(
        d.publishers
    ), f"peak {peak} concurrent token calls, {len(d.publishers)} nodes"


def no_analytics_401(d: RunData) -> tuple[bool, str]:
    n = sum(d.analytics.get("unauthorized_by_caller", {}).values())
    return n == 0, f"{n} Analytics 401s"


def every_node_has_a_valid_token(d: RunData) -> tuple[bool, str]:
    states = {n: s["token"]["state"] for n, s in d.nodes.items()}
    return all(s != "invalid" for s in states.values()), f"final states {states}"


def recovered_quickly(d: RunData) -> tuple[bool, str]:
    seconds = d.measured.get("recovery seconds", math.inf)
    limit = d.retry_cap + 2.0
    return (
        seconds <= limit,
        f"all nodes had a new token {seconds:.1f}s after IMS returned (limit {limit:.0f}s)",
    )


def one_refresh_after_revocation(d: RunData) -> tuple[bool, str]:
    """The revocation costs each node one token call: count the calls in the 0.4 lifetime
    after it (a proactive refresh that happened to fall there may add one)."""
    revoked = d.events.get("revoke every token", math.inf)
    window = revoked + 0.4 * d.lifetime
    after = {
        n: d.tokens_issued(n, after=revoked) - d.tokens_issued(n, after=window)
        for n in d.publishers
    }
    refused = d.analytics.get("unauthorized_by_caller", {})
    return all(1 <= c <= 2 for c in after.values()), (
        f"tokens per node in the 0.4 lifetime after revocation {after}; "
        f"Analytics 401s per node {refused}"
    )


def restarted_node_reused_its_token(d: RunData) -> tuple[bool, str]:
    """A restarted node must reuse its sealed token when it had well over the margin left,
    and must not trust it when it had clearly less; near the line either is right."""
    calls = d.measured.get("token calls when p2 restarted", math.inf)
    restored = bool(d.measured.get("p2 restored its token from disk", 0.0))
    killed = d.events.get("kill p2", math.inf)
    restarted = d.events.get("restart p2", math.inf)
    issued = [
        e["at"] for e in d.ims.get("issued_log", []) if e["caller"] == "p2" and e["at"] < killed
    ]
    left = d.lifetime - (restarted - max(issued)) if issued else -math.inf
    margin = min(d.expiry_margin, d.lifetime / 5)
    did = (
        f"{'restored' if restored else 'did not restore'} its sealed token, "
        f"{calls:g} token calls on start"
    )
    text = f"p2 {did} (its token had {left:.1f}s left at the restart, margin {margin:.1f}s)"
    if left > margin + RESTART_SLACK:
        return restored and calls == 0, text
    if left < margin - RESTART_SLACK:
        return not restored, text
    return True, text


def failures_within_budget(d: RunData) -> tuple[bool, str]:
    budget = d.users  # at most the requests in flight when the publisher died
    return d.locust.failures <= budget, (
        f"{d.locust.failures} failed of {d.locust.requests} (budget {budget}: the requests "
        f"in flight at the crash)"
    )


def served_stale_reports(d: RunData) -> tuple[bool, str]:
    stale = d.stale_served()
    return stale > 0, f"{stale} stale reports served instead of errors"


CUT, HEALED = "p2 cut off from IMS", "p2 reaches IMS again"


def no_token_call_while_cut_off(d: RunData) -> tuple[bool, str]:
    """The partition really held: IMS issued p2 nothing while p2 could not reach it."""
    cut, healed = d.events.get(CUT, math.inf), d.events.get(HEALED, math.inf)
    during = d.tokens_issued("p2", after=cut) - d.tokens_issued("p2", after=healed)
    return during == 0, f"{during} tokens issued to p2 while it was cut off"


def what_the_cut_off_node_served(d: RunData) -> tuple[bool, str]:
    """Not a pass/fail line: what each design gives p2's users (they still reach p2)."""
    stale = d.measured.get("p2 stale reports while cut off", math.nan)
    state = {0.0: "invalid", 1.0: "valid"}.get(d.measured.get("p2 token valid at heal", -1), "?")
    failed = d.measured.get("p2 failed token calls while cut off", math.nan)
    return True, (
        f"p2 served {stale:g} stale reports while cut off, made {failed:g} failed token "
        f"calls, and its token was {state} when IMS came back"
    )


def _stay(allowed: frozenset[str] = frozenset()) -> Invariant:
    return Invariant("sessions stay on their publisher", lambda d: sessions_stay(d, allowed))


COMMON = (
    Invariant("no user-visible errors", no_user_errors),
    Invariant("no token in any response", no_token_leak),
    Invariant("pages in descending order", pages_in_order),
)
TOKENS = (
    Invariant("token calls near the minimum", token_calls_near_minimum),
    Invariant("one token call at a time per node", one_token_call_at_a_time_per_node),
)


# --- timeline actions ------------------------------------------------------------------------


def ims_faults(**changes: Any) -> Action:
    return lambda c: c.faults("ims", **changes)


def analytics_faults(**changes: Any) -> Action:
    return lambda c: c.faults("analytics", **changes)


async def revoke(c: EstateControl) -> None:
    await c.revoke()


async def restore_ims_and_time_recovery(c: EstateControl) -> None:
    counts = await c.refresh_counts()
    await c.faults("ims", outage=False)
    c.measured["recovery seconds"] = await c.wait_until_all_refreshed(counts, limit=60)


async def cut_p2_off_from_ims(c: EstateControl) -> None:
    status = await c.get_json(f"{c.url('p2')}/status")
    c.measured["p2 stale reports before the cut"] = float(status["reports"].get("stale", 0))
    c.measured["p2 failed calls before the cut"] = float(status["token"]["failed_refreshes"])
    c.partition("p2", "ims")


async def heal_p2(c: EstateControl) -> None:
    status = await c.get_json(f"{c.url('p2')}/status")
    c.partition("p2", "ims", cut=False)
    stale = float(status["reports"].get("stale", 0))
    failed = float(status["token"]["failed_refreshes"])
    c.measured["p2 stale reports while cut off"] = stale - c.measured.pop(
        "p2 stale reports before the cut", 0.0
    )
    c.measured["p2 failed token calls while cut off"] = failed - c.measured.pop(
        "p2 failed calls before the cut", 0.0
    )
    c.measured["p2 token valid at heal"] = float(status["token"]["state"] != "invalid")


def kill(node: str) -> Action:
    return lambda c: c.kill(node)


def restart(node: str) -> Action:
    return lambda c: c.restart(node)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "steady",
            "constant load across several token lifetimes",
            lifetimes=4,
            invariants=(
                *COMMON,
                *TOKENS,
                _stay(),
                Invariant("no Analytics 401s", no_analytics_401),
            ),
        ),
        Scenario(
            "expiry-storm",
            "bursts of users at every token expiry instant",
            lifetimes=4,
            shape="expiry-storm",
            invariants=(
                *COMMON,
                *TOKENS,
                _stay(),
                Invariant("no Analytics 401s", no_analytics_401),
            ),
        ),
        Scenario(
            "ims-outage",
            "IMS fully down for 0.8 of a lifetime, then back",
            lifetimes=2.5,
            timeline=(
                Step(0.62, "IMS down", ims_faults(outage=True)),
                Step(1.42, "IMS back", restore_ims_and_time_recovery),
            ),
            invariants=(
                *COMMON,
                Invariant("recovers within the backoff cap", recovered_quickly),
                Invariant("every node ends with a valid token", every_node_has_a_valid_token),
            ),
        ),
        Scenario(
            "ims-flaky",
            "half the token calls fail and all are slow, then IMS recovers",
            lifetimes=3,
            timeline=(
                Step(0.0, "IMS flaky", ims_faults(error_rate=0.5, latency=0.3)),
                # Healthy again for the last half lifetime: every node must have recovered.
                Step(2.5, "IMS healthy", ims_faults(error_rate=0.0)),
            ),
            invariants=(
                *COMMON,
                Invariant("one token call at a time per node", one_token_call_at_a_time_per_node),
                Invariant("every node ends with a valid token", every_node_has_a_valid_token),
            ),
        ),
        Scenario(
            "revocation",
            "IMS revokes every token mid-run",
            lifetimes=3,
            timeline=(Step(1.3, "revoke every token", revoke),),
            invariants=(
                *COMMON,
                Invariant(
                    "about one refresh per node after revocation", one_refresh_after_revocation
                ),
                Invariant("every node ends with a valid token", every_node_has_a_valid_token),
            ),
        ),
        Scenario(
            "publisher-loss",
            "p2 crashes mid-run and is restarted later",
            lifetimes=2.5,
            allowed_moves_from=frozenset({"p2"}),
            needs_own_estate=True,
            timeline=(Step(0.8, "kill p2", kill("p2")), Step(0.95, "restart p2", restart("p2"))),
            invariants=(
                Invariant("failures within the error budget", failures_within_budget),
                Invariant("no token in any response", no_token_leak),
                Invariant("pages in descending order", pages_in_order),
                _stay(frozenset({"p2"})),
                Invariant(
                    "restarted node reuses its sealed token", restarted_node_reused_its_token
                ),
            ),
        ),
        Scenario(
            "partition",
            "p2 cannot reach IMS for 1.6 lifetimes; its users still reach it",
            lifetimes=3,
            needs_hosts=True,
            timeline=(Step(0.4, CUT, cut_p2_off_from_ims), Step(2.0, HEALED, heal_p2)),
            invariants=(
                *COMMON,
                _stay(),
                Invariant("no token call got through the partition", no_token_call_while_cut_off),
                Invariant("what p2's users got", what_the_cut_off_node_served),
            ),
        ),
        Scenario(
            "analytics-outage",
            "Analytics fails for a lifetime: nodes serve stale reports",
            lifetimes=3,
            timeline=(
                Step(1.0, "Analytics down", analytics_faults(outage=True)),
                Step(2.0, "Analytics back", analytics_faults(outage=False)),
            ),
            invariants=(*COMMON, Invariant("stale reports served", served_stale_reports)),
        ),
    )
}
