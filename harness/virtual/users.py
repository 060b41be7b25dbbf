"""What users of the virtual estate saw, counted per request without an event per request:
requests arrive at a rate, and each stretch of time at that rate adds to the counts (fresh,
stale, errors), to how long they waited, and to how old the report they were shown was.

Waits and ages are kept as stretches (``count`` requests whose values lie uniformly between
two bounds) and read exactly at the end: the distribution of a mixture of uniform stretches is
piecewise linear, so a percentile is that of every request, not of the events that stood for
them.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

POINT = 1e-9  # a stretch narrower than this is a point: its requests all had one value


@dataclass
class Spread:
    """Weighted stretches of durations (seconds), each uniform between its bounds."""

    low: array[float] = field(default_factory=lambda: array("d"))
    high: array[float] = field(default_factory=lambda: array("d"))
    weight: array[float] = field(default_factory=lambda: array("d"))
    total: float = 0.0

    def add(self, low: float, high: float, count: float) -> None:
        if count > 0:  # (comparisons, not max(): this runs for every call of a virtual week)
            low = low if low > 0.0 else 0.0
            self.low.append(low)
            self.high.append(high if high > low else low)
            self.weight.append(count)
            self.total += count

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """The distribution's breakpoints and the share of the weight at or below each."""
        low, high, weight = (
            np.frombuffer(a, dtype=np.float64) for a in (self.low, self.high, self.weight)
        )
        point = high - low < POINT
        slope = np.where(point, 0.0, weight / np.where(point, 1.0, high - low))
        xs = np.concatenate([low, high, low[point]])
        dslope = np.concatenate([slope, -slope, np.zeros(point.sum())])
        jump = np.concatenate([np.zeros(len(low)), np.zeros(len(high)), weight[point]])
        order = np.argsort(xs, kind="stable")
        xs, dslope, jump = xs[order], dslope[order], jump[order]
        slopes = np.cumsum(dslope)  # the density right after each breakpoint
        gained = np.concatenate([[0.0], slopes[:-1] * np.diff(xs)])  # continuous mass between
        cumulative = np.cumsum(gained + jump)
        return xs, cumulative / self.total

    def percentile(self, q: float) -> float:
        """The value below which a share ``q`` of the requests lies."""
        if not self.total:
            return 0.0
        xs, shares = self.cdf()
        index = int(np.searchsorted(shares, q - 1e-12))
        if index >= len(xs):
            return float(xs[-1])
        if index == 0 or shares[index] == shares[index - 1]:
            return float(xs[index])
        before = shares[index - 1]
        step = (q - before) / (shares[index] - before)
        return float(xs[index - 1] + step * (xs[index] - xs[index - 1]))

    def points(self, count: int = 200) -> tuple[tuple[float, float], ...]:
        """(seconds, share at or below it) at up to ``count`` breakpoints, for a figure."""
        if not self.total:
            return ()
        xs, shares = self.cdf()
        keep = np.unique(np.linspace(0, len(xs) - 1, min(count, len(xs))).astype(int))
        return tuple((float(xs[i]), float(shares[i])) for i in keep)


@dataclass
class Users:
    """Every request of the site, counted by what it got."""

    fresh: float = 0.0
    stale: float = 0.0
    errors: float = 0.0
    waits: Spread = field(default_factory=Spread)  # seconds until the page had its data
    ages: Spread = field(default_factory=Spread)  # seconds since the report was fetched
    outage: dict[str, float] = field(  # during the IMS outage
        default_factory=lambda: {"requests": 0.0, "served": 0.0, "fresh": 0.0}
    )
    recovery_s: float | None = None

    @property
    def total(self) -> float:
        return self.fresh + self.stale + self.errors

    def served(
        self, count: float, *, stale: bool, age: tuple[float, float], in_outage: bool
    ) -> None:
        """``count`` requests got a report, fresh or stale, aged from ``age[0]`` to ``age[1]``
        seconds (uniformly: they came one after another)."""
        if count <= 0:
            return
        if stale:
            self.stale += count
        else:
            self.fresh += count
        self.ages.add(age[0], age[1], count)
        if in_outage:
            self.outage["requests"] += count
            self.outage["served"] += count
            self.outage["fresh"] += 0.0 if stale else count

    def failed(self, count: float, *, in_outage: bool) -> None:
        """``count`` requests got no report: an error page."""
        if count <= 0:
            return
        self.errors += count
        if in_outage:
            self.outage["requests"] += count

    def waited(self, count: float, low: float, high: float) -> None:
        """``count`` requests waited between ``low`` and ``high`` seconds (uniformly)."""
        self.waits.add(low, high, count)

    def outage_share(self, kind: str) -> float | None:
        asked = self.outage["requests"]
        return None if not asked else self.outage[kind] / asked

    def wait_percentile_ms(self, q: float) -> float:
        """Over every request; those that did not wait took 0 ms."""
        total = self.total
        waited = self.waits.total
        if not total or not waited:
            return 0.0
        rank = q * total - (total - waited)  # the ones that did not wait come first
        if rank <= 0:
            return 0.0
        return round(self.waits.percentile(min(1.0, rank / waited)) * 1000, 1)

    def ecdf(self) -> tuple[tuple[float, float], ...]:
        """(latency ms, share of requests at or below it), requests that did not wait at 0."""
        total = self.total
        if not total:
            return ()
        instant = total - self.waits.total
        points = [(0.0, instant / total)]
        for seconds, share in self.waits.points():
            points.append((round(seconds * 1000, 1), (instant + share * self.waits.total) / total))
        return tuple(points)
