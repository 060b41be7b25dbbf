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
    """Weighted stretches of durations (seconds), each uniform between its bounds; the
    requests that had exactly 0 s (those that waited for the report they got, aged 0) are one
    weight, ``at_zero``, not a stretch each."""

    low: array[float] = field(default_factory=lambda: array("d"))
    high: array[float] = field(default_factory=lambda: array("d"))
    weight: array[float] = field(default_factory=lambda: array("d"))
    total: float = 0.0
    at_zero: float = 0.0
    _cdf: tuple[tuple[int, float], np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def add(self, low: float, high: float, count: float) -> None:
        if count > 0:  # (comparisons, not max(): this runs for every call of a virtual week)
            self.total += count
            if low == 0.0 and high == 0.0:
                self.at_zero += count
                return
            low = low if low > 0.0 else 0.0
            self.low.append(low)
            self.high.append(high if high > low else low)
            self.weight.append(count)

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """The distribution's breakpoints and the share of the weight at or below each
        (worked out once for the stretches there are: a report reads several percentiles)."""
        counted = (len(self.low), self.total)
        if self._cdf is not None and self._cdf[0] == counted:
            return self._cdf[1], self._cdf[2]
        low, high, weight = (
            np.frombuffer(a, dtype=np.float64) for a in (self.low, self.high, self.weight)
        )
        point = high - low < POINT
        slope = np.where(point, 0.0, weight / np.where(point, 1.0, high - low))
        # Most stretches start at 0 (a wait from its start; the ages from a fetch): their
        # starts are one breakpoint, the density they add at 0 summed. The points' jumps come
        # last and the sort is stable, so that at equal breakpoints a jump comes after them.
        from_zero = (low == 0.0) & ~point
        later = ~from_zero
        zero = np.array([0.0] if self.at_zero else [])
        xs = np.concatenate([[0.0], low[later], high, low[point], zero])
        dslope = np.concatenate(
            [[slope[from_zero].sum()], slope[later], -slope, np.zeros(point.sum() + len(zero))]
        )
        jump = np.concatenate(
            [np.zeros(1 + later.sum() + len(high)), weight[point], zero + self.at_zero]
        )
        order = np.argsort(xs, kind="stable")
        xs, dslope, jump = xs[order], dslope[order], jump[order]
        slopes = np.cumsum(dslope)  # the density right after each breakpoint
        gained = np.concatenate([[0.0], slopes[:-1] * np.diff(xs)])  # continuous mass between
        shares = np.cumsum(gained + jump) / self.total
        self._cdf = (counted, xs, shares)
        return xs, shares

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

    def served(self, count: float, *, stale: bool, in_outage: bool) -> None:
        """``count`` requests got a report, fresh or stale (their ages go to ``ages``: the
        report counts them, :meth:`harness.virtual.reports.ReportState.account`)."""
        if count <= 0:
            return
        if stale:
            self.stale += count
        else:
            self.fresh += count
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


def users_from(
    fresh: float,
    stale: float,
    errors: float,
    waits: tuple[bytes, bytes, bytes, float, float],
    ages: tuple[bytes, bytes, bytes, float, float],
    outage: tuple[float, float, float],
    recovery_s: float | None,
) -> Users:
    """The counts of the C engine (:mod:`harness.virtual._traffic`) as :class:`Users`: each
    spread as its bounds and weights (native doubles), its total and its weight at 0 s."""

    def spread(parts: tuple[bytes, bytes, bytes, float, float]) -> Spread:
        low, high, weight = (array("d", part) for part in parts[:3])
        return Spread(low, high, weight, parts[3], parts[4])

    requests, served, fresh_in_outage = outage
    return Users(
        fresh=fresh,
        stale=stale,
        errors=errors,
        waits=spread(waits),
        ages=spread(ages),
        outage={"requests": requests, "served": served, "fresh": fresh_in_outage},
        recovery_s=recovery_s,
    )
