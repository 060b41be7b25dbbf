"""The map's estimate of its own length, said before it starts."""

from __future__ import annotations

import pytest

from harness.designs import parse_designs
from harness.map.cells import MapPlan
from harness.map.estimate import SECONDS_PER_CELL, calls_per_day, estimated_seconds
from tests.support.topologies import shipped


def test_calls_follow_the_cadence_and_page_loads_meet_the_rate_limit() -> None:
    assert calls_per_day(50, 1800.0) == 50 * 48
    assert calls_per_day(1, 0.0) == 28_800  # one caller, back to back
    # what the virtual world measured at 3, 10 and 50 publishers on every page load
    for publishers, measured in ((3, 84_000), (10, 115_000), (50, 179_000)):
        assert calls_per_day(publishers, 0.0) == pytest.approx(measured, rel=0.1)


def test_a_week_is_about_seven_days_and_a_shared_report_one_caller() -> None:
    topology = shipped()
    day = MapPlan(parse_designs("per-node"), (10,), (0.0,), horizon=86_400.0)
    week = MapPlan(parse_designs("per-node"), (10,), (0.0,))  # the default: a week
    calls = [estimated_seconds(topology, plan) - SECONDS_PER_CELL for plan in (day, week)]
    assert calls[1] == pytest.approx(7 * calls[0], rel=0.1)  # (a cell's set-up, once)
    for shared in ("per-node+shared-report", "author-report", "edge-cached"):
        one = MapPlan(parse_designs(shared), (50,), (0.0,))
        assert (
            estimated_seconds(topology, one)
            < estimated_seconds(topology, MapPlan(parse_designs("per-node"), (50,), (0.0,))) / 3
        ), shared
