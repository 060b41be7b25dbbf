"""The load scenarios: a load, a fault timeline, and the invariants that must hold.

Times are in token lifetimes (``L``), so a smoke run with 4 s tokens and a real run with 20 s
tokens follow the same script. Each invariant returns whether it held and what was measured.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.estate.control import EstateControl
from harness.load.facts import Happened, Partition, StepKind
from harness.load.invariants import (
    Invariant,
    every_node_has_a_valid_token,
    failures_within_budget,
    no_analytics_401,
    no_service_died,
    no_token_call_while_cut_off,
    no_token_leak,
    no_user_errors,
    one_refresh_after_revocation,
    one_token_call_at_a_time_per_node,
    pages_in_order,
    recovered_quickly,
    restarted_node_reused_its_token,
    served_stale_reports,
    sessions_stay,
    token_calls_near_minimum,
    token_calls_per_start,
    what_the_cut_off_node_served,
)
from harness.results import Fault

Action = Callable[[EstateControl], Awaitable[None]]
ANALYTICS_DOWN = "Analytics outage"
CUT = "p2 cut off from IMS"  # the fault window of the partition scenario


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # in lifetimes since the load started
    kind: StepKind
    action: Action
    nodes: tuple[str, ...] = ()  # the publishers it concerns
    opens: str = ""  # the fault window this step begins (shaded in the report's figures)
    closes: str = ""  # the fault window this step ends
    note: str = ""  # said after the label, e.g. "(p1 new)"

    @property
    def label(self) -> str:
        """What the report shows; never read back."""
        nodes = " " + ", ".join(self.nodes) if self.nodes else ""
        return f"{self.kind.value}{nodes}{' ' + self.note if self.note else ''}"


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
    extra_publishers: int = 0  # instances it may add (autoscale): p4.. with their dispatchers
    starts_down: frozenset[str] = field(default_factory=frozenset)  # publishers not up at start
    needs_hosts: bool = False  # it cuts a host off the network: publishers on hosts (--hosts)

    @property
    def binds_later(self) -> bool:
        """It starts services during the run, on ports taken when the run began."""
        return self.needs_own_estate or bool(self.extra_publishers) or bool(self.starts_down)

    def faults(self, happened: Sequence[Happened], started: float) -> tuple[Fault, ...]:
        """The timeline as it happened: its windows from the step that opens one to the step
        that closes it, and its instants."""
        at_of = {(h.kind, h.nodes): h.at for h in happened}
        out = []
        for step in self.timeline:
            at = at_of.get((step.kind, step.nodes))
            if at is None or step.closes:
                continue
            end = at
            if step.opens:
                closing = [s for s in self.timeline if s.closes == step.opens]
                end = at_of.get((closing[0].kind, closing[0].nodes), at) if closing else at
            out.append(Fault(at - started, end - started, step.opens or step.label))
        return tuple(out)


def _stay(allowed: frozenset[str] = frozenset()) -> Invariant:
    return Invariant("sessions stay on their publisher", lambda d: sessions_stay(d, allowed))


WATCHED = Invariant("no service exited unasked", no_service_died)
COMMON = (
    WATCHED,
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
    c.measured.recovery_s = await c.wait_until_all_refreshed(counts, limit=60)


def cut_off_from_ims(node: str) -> Action:
    async def act(c: EstateControl) -> None:
        status = await c.get_json(f"{c.url(node)}/status")
        c.measured.partition = Partition(
            node,
            stale_at_cut=float(status["reports"].get("stale", 0)),
            failed_at_cut=float(status["token"]["failed_refreshes"]),
        )
        c.partition(node, "ims")
        c.measured.partition.cut_at = time.time()

    return act


def heal(node: str) -> Action:
    async def act(c: EstateControl) -> None:
        status = await c.get_json(f"{c.url(node)}/status")
        cut = c.measured.partition or Partition(node)
        cut.healed_at = time.time()
        c.partition(node, "ims", cut=False)
        cut.stale_during = float(status["reports"].get("stale", 0)) - cut.stale_at_cut
        cut.failed_during = float(status["token"]["failed_refreshes"]) - cut.failed_at_cut
        cut.token_valid_at_heal = status["token"]["state"] != "invalid"
        c.measured.partition = cut

    return act


def join(*nodes: str) -> Action:
    async def act(c: EstateControl) -> None:
        for node in nodes:
            await c.join(node)

    return act


def leave(*nodes: str) -> Action:
    async def act(c: EstateControl) -> None:
        for node in nodes:
            await c.leave(node)

    return act


def recycle(*nodes: str) -> Action:
    async def act(c: EstateControl) -> None:
        for node in nodes:
            await c.recycle(node)

    return act


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
                Step(0.62, StepKind.IMS_DOWN, ims_faults(outage=True), opens="IMS outage"),
                Step(1.42, StepKind.IMS_BACK, restore_ims_and_time_recovery, closes="IMS outage"),
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
                Step(
                    0.0,
                    StepKind.IMS_FLAKY,
                    ims_faults(error_rate=0.5, latency=0.3),
                    opens="IMS flaky",
                ),
                # Healthy again for the last half lifetime: every node must have recovered.
                Step(2.5, StepKind.IMS_HEALTHY, ims_faults(error_rate=0.0), closes="IMS flaky"),
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
            timeline=(Step(1.3, StepKind.REVOKE, revoke),),
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
            timeline=(
                Step(0.8, StepKind.KILL, kill("p2"), ("p2",), opens="p2 down"),
                Step(0.95, StepKind.RESTART, restart("p2"), ("p2",), closes="p2 down"),
            ),
            invariants=(
                WATCHED,
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
            "p2 cannot reach IMS for 2.2 lifetimes; its users still reach it",
            lifetimes=3,
            needs_hosts=True,
            # Long enough that p2's token is gone for over a lifetime, its token calls failing
            # throughout. Whether one of its report refreshes meets no token depends on
            # Analytics' latency: a call sent with the last token can take seconds and answer
            # after the cut (one run of six under load: 4 calls in 16 s, none failed).
            timeline=(
                Step(0.4, StepKind.CUT_OFF, cut_off_from_ims("p2"), ("p2",), opens=CUT),
                Step(2.6, StepKind.HEAL, heal("p2"), ("p2",), closes=CUT),
            ),
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
                Step(
                    1.0,
                    StepKind.ANALYTICS_DOWN,
                    analytics_faults(outage=True),
                    opens="Analytics outage",
                ),
                Step(
                    2.0,
                    StepKind.ANALYTICS_BACK,
                    analytics_faults(outage=False),
                    closes="Analytics outage",
                ),
            ),
            invariants=(*COMMON, Invariant("stale reports served", served_stale_reports)),
        ),
        Scenario(
            "autoscale",
            "AEM as a Cloud Service: 3 -> 6 -> 2 -> 3 publishers, every instance new or "
            "recycled with an empty disk",
            lifetimes=3,
            needs_own_estate=True,
            extra_publishers=3,
            starts_down=frozenset({"p4", "p5", "p6"}),
            allowed_moves_from=frozenset({"p1", "p2", "p3", "p4", "p5", "p6"}),
            timeline=(
                Step(0.5, StepKind.SCALE_OUT, join("p4", "p5", "p6"), ("p4", "p5", "p6")),
                Step(
                    1.0, StepKind.SCALE_IN, leave("p1", "p2", "p3", "p4"), ("p1", "p2", "p3", "p4")
                ),
                Step(1.4, StepKind.SCALE_OUT, join("p1"), ("p1",), note="(new)"),
                Step(1.8, StepKind.RECYCLE, recycle("p5"), ("p5",)),
                Step(2.2, StepKind.RECYCLE, recycle("p6"), ("p6",)),
            ),
            invariants=(
                WATCHED,
                Invariant("failures within the error budget", failures_within_budget),
                Invariant("no token in any response", no_token_leak),
                Invariant("pages in descending order", pages_in_order),
                Invariant("token calls per new instance", token_calls_per_start),
            ),
        ),
    )
}
