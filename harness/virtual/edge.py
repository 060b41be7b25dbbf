"""The edge's cache policy for the widget's data, replayed on a trace of requests: what the
virtual world assumes a CDN does with ``Cache-Control: max-age, stale-while-revalidate`` (one
copy for every visitor; fresh for max-age; then served stale while one background fetch
replaces it; past stale-while-revalidate, a visitor waits for the fetch).

The virtual world does not replay requests one by one: it refreshes the site's one copy every
``max_age`` (:func:`harness.virtual.nodes.report_cadence`). Under the site's traffic the copy is
replaced at the first request after it expires, so the replay's interval between fetches is
``max_age`` plus the gap to that request (under 0.5 s at the simulated 2 requests per second
per publisher). ``tests/lb/test_cdn.py`` replays one trace through a real varnishd and through
:func:`replay` and compares the fetch count and the staleness visitors saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EdgeReplay:
    fetches: int  # requests the edge sent to the origin
    ages: tuple[float, ...]  # per request: how old the copy it was given was, seconds


def replay(
    times: Sequence[float], *, max_age: float, stale_while_revalidate: float, fetch_seconds: float
) -> EdgeReplay:
    """``times``: when each request reaches the edge (ascending); ``fetch_seconds``: how long
    the origin takes to answer (its copy is as old as the moment it answered)."""
    made: float | None = None  # when the origin made the copy the edge holds
    ready_at: float | None = None  # a background fetch out: when its copy replaces the old one
    fetches = 0
    ages: list[float] = []
    for t in times:
        if ready_at is not None and t >= ready_at:
            made, ready_at = ready_at, None
        if made is None or t - made >= max_age + stale_while_revalidate:
            fetches += 1  # a miss: this visitor waits for the origin, and gets a new copy
            made, ready_at = t + fetch_seconds, None
        elif t - made >= max_age and ready_at is None:
            fetches += 1  # stale: served as it is while one fetch replaces it
            ready_at = t + fetch_seconds
        ages.append(max(0.0, t - made))
    return EdgeReplay(fetches, tuple(ages))
