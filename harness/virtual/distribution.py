"""The distribution of a mixture of uniform stretches and points, read exactly without
sorting it: what a week of virtual requests waited and how old their report was.

A stretch (``low``, ``high``, ``weight``) is ``weight`` requests whose values lie uniformly
between its bounds; a point is ``weight`` requests that all had one value. The share of the
weight at or below ``x`` is piecewise linear in ``x``, with a jump at each point, so a
percentile is the least ``x`` at which that share reaches ``q`` (the value of a jump that ``q``
falls in; between breakpoints, where the linear share reaches it).

A week at 50 publishers is millions of stretches, and sorting their breakpoints was half of
its cost (docs/benchmarks.md). Instead, each breakpoint goes into a bucket by the top bits
of its IEEE pattern (for values at or above 0, the pattern is in the order of the values: a
bucket is a range of values, of relative width ``2**-MANTISSA_BITS``): per-bucket sums of the
densities that start and end there and of the jumps give the share at each bucket's upper
end exactly, which says the bucket a percentile lies in; only that bucket's breakpoints are
sorted, and walked from the share at its lower end.
"""

from __future__ import annotations

import numpy as np

POINT = 1e-9  # a stretch narrower than this is a point: its requests all had one value
MANTISSA_BITS = 7  # a bucket: values within 2**-7 (under 1 %) of each other
SHIFT = 52 - MANTISSA_BITS
SMALLEST = 2.0**-20  # values below it (0 among them) share the first bucket
_FLOOR = int(np.array([SMALLEST]).view(np.int64)[0]) >> SHIFT
TOLERANCE = 1e-12  # a share within this of q reaches it (sums of millions of weights)


def _bucket(values: np.ndarray) -> np.ndarray:
    """Each value's bucket (values at or above 0: their bit patterns are in their order)."""
    buckets: np.ndarray = np.maximum((values.view(np.int64) >> SHIFT) - _FLOOR, 0)
    return buckets


class Distribution:
    """The distribution of ``total`` requests: the stretches (``low``, ``high``, ``weight``,
    narrower than :data:`POINT` a point at ``low``) and ``at_zero`` requests at 0."""

    def __init__(
        self,
        low: np.ndarray,
        high: np.ndarray,
        weight: np.ndarray,
        at_zero: float,
        total: float,
    ) -> None:
        self.total = total
        point = high - low < POINT
        spread = ~point
        lows, highs = low[spread], high[spread]
        slope = weight[spread] / (highs - lows)
        self._parts = (  # every breakpoint: its value, its bucket, what it adds
            (lows, _bucket(lows), slope, 0),  # a density starts
            (highs, _bucket(highs), -slope, 0),  # ...and ends
            (low[point], _bucket(low[point]), weight[point], 1),  # a jump
        )
        size = 1 + max((int(b.max()) for _, b, _, _ in self._parts if len(b)), default=0)
        self._at_zero = at_zero
        # Per bucket, cumulative (each bucket's own included): the density its breakpoints
        # start or end and the same times their values, and the jumps.
        (starts, ends, jumped) = (
            np.cumsum(np.bincount(b, weights=change, minlength=size))
            for _, b, change, _ in self._parts
        )
        started, ended = (
            np.cumsum(np.bincount(b, weights=values * change, minlength=size))
            for values, b, change, _ in self._parts[:2]
        )
        self._density = starts + ends  # right after the bucket's breakpoints
        # The largest value of each bucket, and the weight at or below it: a stretch whose
        # start (and end) lie at or below it adds its density from its start (to its end).
        keys = (np.arange(size, dtype=np.int64) + _FLOOR + 1) << SHIFT
        self.edges = (keys - 1).view(np.float64)
        self.at_edges = (
            starts * self.edges - started + (ends * self.edges - ended) + jumped + at_zero
        )
        present = [v for v, _, _, _ in self._parts if len(v)]
        self._largest = max((float(v.max()) for v in present), default=0.0)
        self._smallest = 0.0 if at_zero else min((float(v.min()) for v in present), default=0.0)

    def percentile(self, q: float) -> float:
        """The least value at or below which a share ``q`` of the weight lies."""
        if not self.total:
            return 0.0
        if q <= 0:
            return self._smallest
        if q >= 1:
            return self._largest
        target = q * self.total
        reach = (q - TOLERANCE) * self.total
        k = int(np.searchsorted(self.at_edges, reach))
        if k >= len(self.edges):
            return self._largest
        x, share, density = (
            (0.0, 0.0, 0.0)
            if k == 0
            else (
                float(self.edges[k - 1]),
                float(self.at_edges[k - 1]),
                float(self._density[k - 1]),
            )
        )
        values, changes, jumps = self._in_bucket(k)
        for value, change, jump in zip(values, changes, jumps, strict=True):
            before = share + density * (value - x)  # the linear share up to this breakpoint
            if before >= reach:
                return _between(x, share, value, before, target)
            share = before + jump
            if share >= reach:
                return value  # in its jump
            x, density = value, density + change
        return _between(x, share, float(self.edges[k]), float(self.at_edges[k]), target)

    def _in_bucket(self, k: int) -> tuple[list[float], list[float], list[float]]:
        """Bucket ``k``'s breakpoints, each value once, ascending: the value, the density it
        adds, its jump."""
        values, changes, jumps = [], [], []
        for part_values, buckets, change, jump in self._parts:
            mine = buckets == k
            values.append(part_values[mine])
            changes.append(np.zeros(int(mine.sum())) if jump else change[mine])
            jumps.append(change[mine] if jump else np.zeros(int(mine.sum())))
        if k == 0 and self._at_zero:
            values.append(np.array([0.0]))
            changes.append(np.array([0.0]))
            jumps.append(np.array([self._at_zero]))
        all_values = np.concatenate(values)
        order = np.argsort(all_values)
        all_values = all_values[order]
        if not len(all_values):
            return [], [], []
        first = np.concatenate([[0], np.flatnonzero(np.diff(all_values)) + 1])
        return (
            all_values[first].tolist(),
            np.add.reduceat(np.concatenate(changes)[order], first).tolist(),
            np.add.reduceat(np.concatenate(jumps)[order], first).tolist(),
        )

    def points(self, count: int = 200) -> tuple[tuple[float, float], ...]:
        """(value, share at or below it) at up to ``count`` values, for a figure: the buckets'
        upper ends, from the first that holds weight to the largest value."""
        if not self.total:
            return ()
        held = np.flatnonzero(self.at_edges > 0)
        start, stop = int(held[0]) if len(held) else 0, len(self.edges) - 1
        keep = np.unique(np.linspace(start, stop, min(count, stop - start + 1)).astype(int))
        shown = [
            (min(float(self.edges[i]), self._largest), float(self.at_edges[i]) / self.total)
            for i in keep
        ]
        return tuple(shown)


def _between(x0: float, share0: float, x1: float, share1: float, target: float) -> float:
    """Where the share, linear from ``share0`` at ``x0`` to ``share1`` at ``x1``, reaches
    ``target``."""
    if share1 <= share0:
        return x1
    step = min(1.0, max(0.0, (target - share0) / (share1 - share0)))
    return x0 + step * (x1 - x0)
