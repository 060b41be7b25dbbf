"""author-report in virtual time: the author down for hours during the fault week."""

from __future__ import annotations

from pathlib import Path

from core.topology import load_topology
from harness.designs import Design
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings
from harness.virtual.timeline import EventKind, faults

ROOT = Path(__file__).resolve().parents[2]
WEEK = VirtualSettings(horizon=7 * 86_400.0, trace=False)


def test_the_week_takes_the_author_down_for_four_hours_and_a_day_does_not() -> None:
    (down,) = [e for e in faults(WEEK.horizon, ("p1", "p2")) if e.kind is EventKind.AUTHOR_OUTAGE]
    assert down.duration == 4 * 3600
    assert down.end < WEEK.horizon
    assert all(e.kind is not EventKind.AUTHOR_OUTAGE for e in faults(86_400.0, ("p1", "p2")))


def test_while_the_author_is_down_users_see_the_last_published_report_getting_older() -> None:
    topology = load_topology(ROOT / "topology.yaml")
    published = simulate(Design.parse("author-report"), WEEK, topology)
    per_node = simulate(Design.parse("per-node"), WEEK, topology)
    # Nothing fails for users: the publishers serve what they were sent.
    assert published.user_errors == 0
    # ...but it ages through the outage: the oldest 1 % of views are hours old (a report every
    # 30 minutes alone keeps them under one), where per-node's are not.
    assert published.report_age_p99_s > 2 * 3600
    assert per_node.report_age_p99_s < 3600
    # The author came back with its repository: its sealed token, no extra token call.
    calls = published.token_calls_per_node
    assert all(calls[p] == 0 for p in ("p1", "p2", "p3"))
    assert 0 < calls["author"] <= per_node.token_calls_per_node["p1"]
