"""Facts are typed values and labels are for people: renaming every label of the timelines (the
load scenarios' steps, the virtual world's events) changes no verdict and no result."""

from __future__ import annotations

import dataclasses
import enum

import pytest

from harness.load.facts import Happened, InstanceStart, Measured, Partition, Restart, StepKind
from harness.load.invariants import (
    RunData,
    one_refresh_after_revocation,
    recovered_quickly,
    restarted_node_reused_its_token,
    token_calls_per_start,
    what_the_cut_off_node_served,
)
from harness.load.invariants import (
    no_token_call_while_cut_off as no_call_while_cut_off,
)
from harness.load.locust_run import LocustResult
from harness.virtual.timeline import EventKind
from tests.harness.test_virtual import sim

STARTED = 1_000.0
INVARIANTS = (
    restarted_node_reused_its_token,
    one_refresh_after_revocation,
    no_call_while_cut_off,
    what_the_cut_off_node_served,
    token_calls_per_start,
    recovered_quickly,
)


def rename_every(kind: type[enum.Enum], monkeypatch: pytest.MonkeyPatch) -> None:
    for member in kind:
        monkeypatch.setattr(member, "_value_", f"renamed {member.name.lower()}")


def run_data(label: str) -> RunData:
    """A run whose timeline did every kind of step, each step labelled ``label``."""
    steps = [
        (StepKind.KILL, ("p2",), 10.0),
        (StepKind.RESTART, ("p2",), 12.0),
        (StepKind.REVOKE, (), 20.0),
        (StepKind.CUT_OFF, ("p2",), 30.0),
        (StepKind.HEAL, ("p2",), 40.0),
    ]
    issued = [
        {"at": STARTED + at, "caller": caller}
        for at, caller in ((1, "p1"), (1, "p2"), (2, "p3"), (21, "p1"), (21, "p2"), (22, "p3"))
    ]
    return RunData(
        scenario="any",
        strategy="per-node",
        lifetime=20.0,
        duration=60.0,
        users=10,
        publishers=["p1", "p2", "p3"],
        refresh_at=0.5,
        refresh_jitter=0.1,
        retry_cap=5.0,
        expiry_margin=300.0,
        locust=LocustResult(requests=100),
        ims={"issued_log": issued},
        analytics={"unauthorized_by_caller": {"p1": 1}},
        lb={},
        nodes={},
        events=[Happened(k, n, label, STARTED + at) for k, n, at in steps],
        measured=Measured(
            recovery_s=3.0,
            restarts=[Restart("p2", 0, restored=True)],
            starts=[InstanceStart("p4", 1), InstanceStart("p5", 1)],
            partition=Partition("p2", stale_during=12, failed_during=4, token_valid_at_heal=False),
        ),
        started_wall=STARTED,
        collected_wall=STARTED + 60,
    )


def verdicts(data: RunData) -> list[tuple[bool, str]]:
    return [invariant(data) for invariant in INVARIANTS]


def test_renaming_the_steps_changes_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    before = verdicts(run_data("kill p2"))
    rename_every(StepKind, monkeypatch)
    after = verdicts(run_data("something else entirely"))
    assert after == before
    assert [held for held, _ in before] == [True] * len(INVARIANTS)
    # ...and the facts are what decide: a restart that made a call fails its check.
    costly = dataclasses.replace(
        run_data("x"), measured=Measured(restarts=[Restart("p2", 1, False)])
    )
    assert not restarted_node_reused_its_token(costly)[0]


def test_renaming_the_virtual_events_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    before = sim("per-node", hours=30)
    labels = [e.label for e in before.events]
    rename_every(EventKind, monkeypatch)
    after = sim("per-node", hours=30)
    assert [e.label for e in after.events] != labels
    same = ("token_calls", "analytics_401s", "user_errors", "stale", "token_calls_on_restart")
    assert {f: getattr(after, f) for f in same} == {f: getattr(before, f) for f in same}
    assert before.analytics_401s > 0  # the revocation happened, and was recognised by kind


def test_a_restart_may_make_the_one_call_its_token_was_due_before_its_count_was_read() -> None:
    young = dataclasses.replace(
        run_data("x"), ims={"issued_log": [{"at": STARTED + 9.0, "caller": "p2"}]}
    )

    def restart(counted_after: float) -> tuple[bool, str]:
        measured = Measured(restarts=[Restart("p2", 1, True, STARTED + counted_after)])
        return restarted_node_reused_its_token(dataclasses.replace(young, measured=measured))

    # Counted 0.5 s after the restart: its token was 3.5 s old of 20 (refresh at half): no
    # call was due.
    assert not restart(12.5)[0]
    # Counted 7.5 s later, on a busy machine: the token (10.5 s old) was due its refresh.
    held, text = restart(19.5)
    assert held
    assert "its refresh was due before its count was read (10.5s old)" in text
    # Its age counts from when its request reached IMS, not from when IMS issued it: asked
    # 0.6 s before it was issued (IMS's latency and queue), counted 9.6 s after it was
    # issued, it was 10.2 s old, past its refresh at 10.
    asked_early = dataclasses.replace(
        young, ims={"issued_log": [{"at": STARTED + 9.0, "asked": STARTED + 8.4, "caller": "p2"}]}
    )
    measured = Measured(restarts=[Restart("p2", 1, True, STARTED + 18.6)])
    assert restarted_node_reused_its_token(dataclasses.replace(asked_early, measured=measured))[0]
    assert not restart(18.6)[0]  # the same count, judged from when IMS issued it


def test_a_token_ims_gave_before_the_cut_took_effect_did_not_get_through_it() -> None:
    # The cut's step is stamped before its action (a /status read, then the route change):
    # on a busy machine IMS answered p2 96 ms after the stamp, before the cut was in place.
    data = run_data("x")
    cut = data.when(StepKind.CUT_OFF, "p2")
    healed = data.when(StepKind.HEAL, "p2")
    issued = dataclasses.replace(data, ims={"issued_log": [{"at": cut + 0.1, "caller": "p2"}]})
    stamped_only = Partition("p2")
    assert not no_call_while_cut_off(
        dataclasses.replace(issued, measured=Measured(partition=stamped_only))
    )[0]
    in_place = Partition("p2", cut_at=cut + 0.2, healed_at=healed)
    assert no_call_while_cut_off(
        dataclasses.replace(issued, measured=Measured(partition=in_place))
    )[0]
    after = Partition("p2", cut_at=cut + 0.05, healed_at=healed)  # issued once it was in place
    assert not no_call_while_cut_off(
        dataclasses.replace(issued, measured=Measured(partition=after))
    )[0]


def test_a_request_that_reached_ims_before_the_cut_did_not_get_through_it() -> None:
    # A busy run: p2's refresh reached IMS, the cut was put in place, and IMS issued the token
    # 56 ms later (its latency and its queue); the reply still came back to p2.
    data = run_data("x")
    cut, healed = data.when(StepKind.CUT_OFF, "p2"), data.when(StepKind.HEAL, "p2")
    partition = Measured(partition=Partition("p2", cut_at=cut, healed_at=healed))

    def verdict(asked: float, at: float) -> tuple[bool, str]:
        log = [{"at": at, "asked": asked, "caller": "p2"}]
        return no_call_while_cut_off(
            dataclasses.replace(data, ims={"issued_log": log}, measured=partition)
        )

    assert verdict(asked=cut - 0.01, at=cut + 0.056)[0]
    held, text = verdict(asked=cut + 0.01, at=cut + 0.056)
    assert not held
    assert text == "1 tokens issued to p2 for requests sent while it was cut off"
