"""What the readers of one virtual report got: counted in stretches, read as every request."""

from __future__ import annotations

import pytest

from harness.virtual.analytics import OK, UNAVAILABLE
from harness.virtual.reports import FRESH, STALE, ReportState
from harness.virtual.users import Users


def fetched_at_10() -> tuple[ReportState, Users]:
    users, state = Users(), ReportState(rate=2.0, accounted_until=0.0)
    state.wait(0.0)
    state.answers(OK, 10.0)
    state.account(users, 10.0, in_outage=False)  # the first report, after 10 s
    assert state.shown == FRESH
    return state, users


def test_requests_that_waited_for_a_failed_call_see_the_last_report_as_old_as_it_is() -> None:
    """A call out from 100 s to 105 s fails: the 10 requests that waited for it are shown the
    report fetched at 10 s, 95 s old (they were counted as aged 0 before)."""
    state, users = fetched_at_10()
    state.account(users, 100.0, in_outage=False)  # 180 requests, aged 0 to 90 s
    state.wait(100.0)
    state.answers(UNAVAILABLE, 105.0)
    state.account(users, 105.0, in_outage=False)
    state.close_ages(users)
    assert state.shown == STALE
    assert users.stale == pytest.approx(10.0)
    ages = users.ages
    assert ages.total == pytest.approx(20.0 + 180.0 + 10.0)  # first waiters, the 90 s, these
    assert ages.at_zero == pytest.approx(20.0)  # only those who got the new one
    # The last 10 of 210 requests are all 95 s old; below them, the 90 s read at 2 a second.
    assert ages.percentile(1.0) == pytest.approx(95.0)
    assert ages.percentile(205 / 210) == pytest.approx(95.0)
    assert ages.percentile(199 / 210) == pytest.approx((199 - 20) / 2)
    assert ages.percentile(10 / 210) == 0.0  # the first 20 got it as it came


def test_one_report_read_on_is_one_stretch_of_ages() -> None:
    """Counted every minute for an hour at one rate: one stretch, 0 s to an hour."""
    state, users = fetched_at_10()
    for minute in range(1, 61):
        state.account(users, 10.0 + 60.0 * minute, in_outage=False)
    state.close_ages(users)
    assert list(users.ages.low) == [0.0]
    assert list(users.ages.high) == [3600.0]
    assert users.ages.percentile(0.5) == pytest.approx(3600.0 * 0.5 * 7200 / 7220, rel=1e-3)
