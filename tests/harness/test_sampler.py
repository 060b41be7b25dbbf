"""The real run's trace: Analytics' calls a minute, read from the simulated service's running
totals at each sample."""

from __future__ import annotations

import pytest

from harness.load.sampler import _rate_over


def test_calls_made_before_the_run_are_not_a_spike_at_its_start() -> None:
    # Three publishers fetched their first report before the load began: the first sample,
    # 6 ms in, already reads 3 calls. Then 2 calls a second (120 a minute).
    times = [0.006, 1.006, 2.006, 3.006, 4.006]
    totals = [3, 5, 7, 9, 11]
    rates = _rate_over(times, totals, window=2.0)
    assert rates[0] == 0.0  # not 3 calls in 6 ms: 30,000 a minute
    assert rates[1:] == pytest.approx([120.0, 120.0, 120.0, 120.0])
    assert max(rates) < 121  # what sets the figure's scale


def test_the_rate_is_over_the_window_before_each_sample() -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    totals = [0, 0, 0, 12, 12, 12]  # 12 calls between 2 s and 3 s
    rates = _rate_over(times, totals, window=2.0)
    assert rates == pytest.approx([0.0, 0.0, 0.0, 360.0, 360.0, 0.0])
