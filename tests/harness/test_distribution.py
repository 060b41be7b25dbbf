"""A mixture of uniform stretches and points, read by buckets, against the same read by
sorting every breakpoint (the plain way, kept here as the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.virtual.distribution import POINT, Distribution


def sorted_percentile(
    low: np.ndarray, high: np.ndarray, weight: np.ndarray, at_zero: float, q: float
) -> float:
    """The least x whose share at or below reaches q, from every breakpoint sorted."""
    total = float(weight.sum()) + at_zero
    point = high - low < POINT
    slope = np.where(point, 0.0, weight / np.where(point, 1.0, high - low))
    zero = [0.0] if at_zero else []
    xs = np.concatenate([low, high, low[point], zero])
    dslope = np.concatenate([slope, -slope, np.zeros(point.sum() + len(zero))])
    jump = np.concatenate([np.zeros(2 * len(low)), weight[point], [at_zero] if at_zero else []])
    order = np.argsort(xs, kind="stable")
    xs, dslope, jump = xs[order], dslope[order], jump[order]
    if q <= 0:
        return float(xs[0])
    target = q * total
    share = density = 0.0
    x = 0.0
    i = 0
    while i < len(xs):
        value = xs[i]
        before = share + density * (value - x)
        if before >= target - 1e-12 * total:
            return x if before <= share else x + (target - share) / (before - share) * (value - x)
        share, x = before, value
        while i < len(xs) and xs[i] == value:  # every breakpoint at this value
            share += jump[i]
            density += dslope[i]
            i += 1
        if share >= target - 1e-12 * total:
            return float(value)
    return float(xs[-1])


# As the virtual world makes them: requests at a rate (up to the site's 100 a second) over a
# stretch of values, or a point (requests that all had one value), on shared values often.
stretches = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e-7, 3600.0]) | st.floats(0, 1e5),
        st.sampled_from([0.0, 1e-10, 0.5, 2.0]) | st.floats(0, 1e4),
        st.floats(0.01, 100.0),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(stretches, st.floats(0, 50), st.sampled_from([0.0, 0.01, 0.5, 0.95, 0.99, 1.0]))
def test_the_buckets_read_what_sorting_every_breakpoint_reads(
    parts: list[tuple[float, float, float]], at_zero: float, q: float
) -> None:
    low = np.array([a for a, _, _ in parts])
    width = np.array([w for _, w, _ in parts])
    high = low + width
    rate = np.array([r for _, _, r in parts])
    weight = np.where(high - low < POINT, rate, rate * width)  # a point: rate requests
    found = Distribution(low, high, weight, at_zero, float(weight.sum()) + at_zero)
    expected = sorted_percentile(low, high, weight, at_zero, q)
    assert found.percentile(q) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_a_jump_is_its_value_and_a_stretch_is_linear() -> None:
    """10 requests at 95 s above 200 spread over 0..100 s: the 99th percentile is in the
    jump, the median in the stretch."""
    found = Distribution(
        np.array([0.0, 95.0]), np.array([100.0, 95.0]), np.array([200.0, 10.0]), 0.0, 210.0
    )
    assert found.percentile(0.93) == 95.0  # in the jump: 190 to 200 of 210
    assert found.percentile(0.99) == pytest.approx(95 + (0.99 * 210 - 200) / 2)
    assert found.percentile(0.5) == pytest.approx(105 / 200 * 100)
    assert found.percentile(1.0) == 100.0
    assert found.points()[-1] == (100.0, 1.0)


def test_a_million_stretches_are_read_without_sorting_them() -> None:
    rng = np.random.default_rng(7)
    low = rng.exponential(30, 1_000_000)
    high = low + rng.exponential(5, 1_000_000)
    weight = rng.random(1_000_000)
    found = Distribution(low, high, weight, 0.0, float(weight.sum()))
    p99 = found.percentile(0.99)
    # The share at the 99th percentile, summed directly: 0.99 of the weight.
    share = np.clip((p99 - low) / (high - low), 0, 1) @ weight / weight.sum()
    assert share == pytest.approx(0.99, abs=1e-9)
