"""A load run over time (:class:`harness.results.Trace`): while Locust runs, every ``every``
seconds, each running publisher's ``/status`` (seconds of token validity left, stale replies
served) and Analytics' counters; afterwards, IMS's log of issued tokens and Locust's own
history of failures and its latency percentiles.

A sample that cannot be read (a node being restarted) is a gap, not a failure of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from harness.estate.control import EstateControl
from harness.results import Fault, Trace

NODES_SHOWN = 6
PERCENTILES = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")


@dataclass
class Sampler:
    control: EstateControl
    started: float  # wall clock: when the load started
    every: float
    times: list[float] = field(default_factory=list)
    token_left: dict[str, list[float | None]] = field(default_factory=dict)
    analytics: list[dict[str, Any] | None] = field(default_factory=list)
    stale: list[float] = field(default_factory=list)  # served stale since the last sample
    _stale_seen: dict[str, int] = field(default_factory=dict)

    async def run(self, until: float) -> None:
        """Sample until the wall clock reads ``until`` (bounded: it stops itself)."""
        while time.time() < until:
            await self.sample()
            await asyncio.sleep(max(0.0, min(self.every, until - time.time())))

    async def sample(self) -> None:
        control = self.control
        running = control.running_publishers
        statuses = dict(
            zip(running, await asyncio.gather(*map(self._status, running)), strict=True)
        )
        for node_id in control.publishers:
            if node_id not in self.token_left and len(self.token_left) < NODES_SHOWN:
                self.token_left[node_id] = [None] * len(self.times)
        stale = 0
        for node_id, lane in self.token_left.items():
            status = statuses.get(node_id)
            token = (status or {}).get("token", {})
            left = token.get("seconds_left") if isinstance(token, dict) else None
            lane.append(float(left) if isinstance(left, int | float) else None)
        for node_id, status in statuses.items():
            count = int((status or {}).get("reports", {}).get("stale", 0))
            before = self._stale_seen.get(node_id, 0)
            stale += count - before if count >= before else count  # a restart starts again
            self._stale_seen[node_id] = count
        self.stale.append(float(stale))
        self.analytics.append(await self._get(f"{control.url('analytics')}/admin/stats"))
        self.times.append(time.time() - self.started)

    async def _status(self, node_id: str) -> dict[str, Any] | None:
        return await self._get(f"{self.control.url(node_id)}/status")

    async def _get(self, url: str) -> dict[str, Any] | None:
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            reply = await asyncio.wait_for(self.control.get_json(url), timeout=self.every * 4)
            return reply if isinstance(reply, dict) else None
        return None

    def trace(
        self,
        design: str,
        *,
        horizon: float,
        lifetime: float,
        issued_log: Sequence[Mapping[str, Any]],
        limit_per_minute: float | None,
        rate_window: float,
        faults: tuple[Fault, ...],
        locust_folder: Path,
    ) -> Trace:
        """``rate_window``: Analytics' calls a minute are counted over this many seconds
        before each sample (its rate limit's window: what the limit sees)."""
        unauthorized, throttled = [], []
        cumulative: list[Counter[str]] = []
        last: Counter[str] = Counter()
        for stats in self.analytics:
            now = _analytics_counts(stats) if stats is not None else last
            delta = Counter(now)
            delta.subtract(last)
            unauthorized.append(float(max(0, delta["unauthorized"])))
            throttled.append(float(max(0, delta["throttled"])))
            cumulative.append(now)
            last = now
        answered = _rate_over(self.times, [c["answered"] for c in cumulative], rate_window)
        calls: dict[str, list[float]] = {n: [] for n in self.token_left}
        for entry in issued_log:
            if entry.get("caller") in calls:
                calls[entry["caller"]].append(round(float(entry["at"]) - self.started, 3))
        return Trace(
            design=design,
            horizon=horizon,
            lifetime=lifetime,
            times=tuple(self.times),
            token_left={n: tuple(v) for n, v in self.token_left.items()},
            nodes_total=len(self.control.publishers),
            token_calls={n: tuple(v) for n, v in calls.items()},
            analytics_per_minute=answered,
            analytics_window=rate_window,
            limit_per_minute=limit_per_minute,
            refused_401=tuple(unauthorized),
            refused_429=tuple(throttled),
            stale=tuple(self.stale),
            errors=failures_per_interval(locust_folder, self.started, self.times),
            faults=faults,
            latency_ecdf=latency_ecdf(locust_folder),
        )


def _rate_over(times: Sequence[float], totals: Sequence[int], window: float) -> tuple[float, ...]:
    """Per sample, the calls a minute in the ``window`` seconds before it (from running
    totals; before a full window has passed, over the time since the first sample). The first
    sample is the baseline, 0: the totals it read hold the estate's start (each publisher's
    first report), made before the run, and a rate over its few milliseconds since the run's
    start would show them as tens of thousands of calls a minute."""
    out = []
    for i, (at, total) in enumerate(zip(times, totals, strict=True)):
        if i == 0:
            out.append(0.0)
            continue
        j = i
        while j > 1 and times[j - 1] > at - window:
            j -= 1
        since, before = times[j - 1], totals[j - 1]
        out.append(max(0, total - before) * 60.0 / max(at - since, 1e-9))
    return tuple(out)


def _analytics_counts(stats: Mapping[str, Any]) -> Counter[str]:
    outcomes = stats.get("by_outcome", {})
    total = int(stats.get("requests", 0))
    return Counter(
        answered=total - int(outcomes.get("unavailable", 0)),
        unauthorized=int(outcomes.get("unauthorized", 0)),
        throttled=int(outcomes.get("throttled", 0)),
    )


def failures_per_interval(
    folder: Path, started: float, times: Sequence[float]
) -> tuple[float, ...]:
    """Locust's failures in each sample interval, from its per-second history (its
    ``Total Failure Count`` of the aggregated row)."""
    history = folder / "locust_stats_history.csv"
    points: list[tuple[float, int]] = []
    if history.exists():
        with history.open() as handle:
            for row in csv.DictReader(handle):
                if row.get("Name") == "Aggregated":
                    with contextlib.suppress(KeyError, ValueError):
                        points.append(
                            (float(row["Timestamp"]) - started, int(row["Total Failure Count"]))
                        )
    out, seen, k = [], 0, 0
    for at in times:
        total = seen
        while k < len(points) and points[k][0] <= at:
            total = points[k][1]
            k += 1
        out.append(float(max(0, total - seen)))
        seen = max(seen, total)
    return tuple(out)


def latency_ecdf(folder: Path) -> tuple[tuple[float, float], ...]:
    """(ms, share of requests at or below) from the percentiles Locust computed over every
    request of the run (its aggregated row), starting at the fastest request."""
    stats = folder / "locust_stats.csv"
    if not stats.exists():
        return ()
    with stats.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    if not rows or not int(rows[0].get("Request Count") or 0):
        return ()
    row = rows[0]
    points = [(float(row["Min Response Time"]), 0.0)]
    for column in PERCENTILES:
        with contextlib.suppress(KeyError, ValueError):
            points.append((float(row[column]), float(column.rstrip("%")) / 100))
    return tuple(points)
