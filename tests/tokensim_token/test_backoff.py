"""Guards found by mutation testing and kept as tests of behaviour: backoff."""

from __future__ import annotations

import random

import pytest
from tokensim_token.backoff import Backoff


@pytest.mark.parametrize(("failures", "ceiling"), [(1, 2.0), (2, 4.0), (3, 8.0), (9, 60.0)])
def test_retries_spread_over_the_whole_window_and_double_up_to_the_cap(
    failures: int, ceiling: float
) -> None:
    """Full jitter: 1,000 nodes that failed together come back spread over [0, ceiling], the
    ceiling doubling per failure (base 2 s) up to the cap; none earlier, none later."""
    backoff = Backoff(base=2.0, cap=60.0)
    delays = [backoff.delay(failures, random.Random(seed)) for seed in range(1000)]
    assert 0.0 <= min(delays) < 0.05 * ceiling
    assert 0.95 * ceiling < max(delays) <= ceiling
    assert abs(sum(delays) / len(delays) - ceiling / 2) < 0.05 * ceiling


def test_retry_after_is_a_floor_and_huge_failure_counts_stay_capped() -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    assert backoff.delay(1, random.Random(1), retry_after=45.0) == 45.0
    assert backoff.delay(10_000, random.Random(1)) <= 30.0
