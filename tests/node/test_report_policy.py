"""When a node asks Analytics again after a 429 (node/report_policy.py)."""

from __future__ import annotations

import random

from node.report_policy import THROTTLE_BASE, ReportPolicy


def test_nodes_throttled_together_come_back_at_different_times_after_one_window() -> None:
    policy = ReportPolicy(refresh=1800.0)
    # 38 publishers refused in the same window (50 started together, 12 got through).
    first = sorted(policy.hold_after_throttle(1, random.Random(n)) for n in range(38))
    assert first[0] >= THROTTLE_BASE  # never before Adobe's window has passed
    assert first[-1] <= 2 * THROTTLE_BASE
    # spread over the next window: no second in it takes more than a quarter of them
    per_second = [sum(1 for w in first if s <= w < s + 1) for s in range(6, 12)]
    assert max(per_second) <= 38 / 4
    later = [policy.hold_after_throttle(6, random.Random(n)) for n in range(200)]
    assert max(later) <= THROTTLE_BASE + 300.0  # capped at 5 minutes past the window
    assert max(later) > 100.0
