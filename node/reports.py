"""The "most visited pages" report as the node serves it: cached, single-flight, stale on error.

Concurrent requests share one Analytics call (not in the ``naive`` strategy, whose handlers each
fetch their own, as code written without single-flight does). A 401 drops the token (only if it
is still the current one), gets a new one and retries once. When Analytics or the token fails,
the last good report is served with ``stale: true`` rather than an error, if there is one.

A 429 (over Analytics' 12 requests per 6 s per client) is not a token problem: it never drops
the token or causes a token call. The refresh of the report backs off instead
(:class:`node.report_policy.ReportPolicy`), the last report is served stale meanwhile, and the
episode is logged once when it starts and once when it ends. Throttled calls are counted
(``outcomes["throttled"]``: /status and /metrics).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol

from tokensim_token import AccessToken, TokenProvider, TokenUnavailable
from tokensim_token.clock import Clock

from node.analytics_client import PageVisits
from node.errors import (
    AnalyticsError,
    AnalyticsThrottled,
    AnalyticsUnauthorized,
    ReportUnavailable,
)
from node.report_policy import ReportPolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopPages:
    pages: tuple[PageVisits, ...]
    fetched_at: float  # wall clock
    stale: bool = False


class TopPagesSource(Protocol):
    """Where reports come from: the Analytics client (or the in-process one of the simulation)."""

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]: ...


class TopPagesService:
    def __init__(
        self,
        *,
        analytics: TopPagesSource,
        tokens: TokenProvider,
        cache_ttl: float,
        clock: Clock,
        single_flight: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._single_flight = single_flight
        self._rng = rng or random.Random()
        self._throttled = 0  # consecutive 429s: the episode in progress
        self._failures = 0  # consecutive other failures
        self._analytics = analytics
        self._tokens = tokens
        self._cache_ttl = cache_ttl
        self._policy = ReportPolicy(cache_ttl)
        self._clock = clock
        self._last: TopPages | None = None
        self._last_at = float("-inf")
        self._hold_until = float("-inf")
        self._in_flight: asyncio.Task[TopPages] | None = None
        self.outcomes: Counter[str] = Counter()

    @property
    def has_report(self) -> bool:
        return self._last is not None

    def fresh(self) -> TopPages | None:
        """The cached report while it is fresh, without a coroutine: the hot path."""
        last = self._last
        if last is not None and self._clock.monotonic() - self._last_at < self._cache_ttl:
            return last
        return None

    async def get(self) -> TopPages:
        fresh = self.fresh()
        if fresh is not None:
            return fresh
        now = self._clock.monotonic()
        last = self._last
        if now < self._hold_until:
            if last is not None:
                self.outcomes["stale"] += 1
                return replace(last, stale=True)
            if self._throttled:  # no report to serve, and Analytics asked us to wait
                self.outcomes["unavailable"] += 1
                raise ReportUnavailable("Analytics throttled this client (429); waiting")
        if not self._single_flight:
            return await self._refresh()  # the naive node: every request fetches its own
        if self._in_flight is None:
            self._in_flight = asyncio.create_task(self._refresh(), name="top-pages")
            self._in_flight.add_done_callback(self._done)
        return await asyncio.shield(self._in_flight)

    def _done(self, task: asyncio.Task[TopPages]) -> None:
        self._in_flight = None
        if not task.cancelled():
            task.exception()

    async def _refresh(self) -> TopPages:
        try:
            pages = await self._fetch()
        except AnalyticsThrottled as exc:
            return self._throttled_fallback(exc)
        except (AnalyticsError, TokenUnavailable) as exc:
            return self._fallback(exc)
        if self._throttled:
            logger.info("Analytics answers again after %d throttled calls", self._throttled)
            self._throttled = 0
        self._failures = 0
        self._last = TopPages(pages=pages, fetched_at=self._clock.wall())
        self._last_at = self._clock.monotonic()
        self.outcomes["ok"] += 1
        return self._last

    async def _fetch(self) -> tuple[PageVisits, ...]:
        token = await self._tokens.get()
        try:
            return await self._analytics.top_pages(token)
        except AnalyticsUnauthorized:
            self.outcomes["unauthorized"] += 1
            self._tokens.invalidate(token)
            return await self._analytics.top_pages(await self._tokens.get())

    def _throttled_fallback(self, exc: AnalyticsThrottled) -> TopPages:
        """Back off the report (not the token): capped exponential, full jitter."""
        self._throttled += 1
        self.outcomes["throttled"] += 1
        wait = self._policy.hold_after_throttle(self._throttled, self._rng)
        self._hold_until = self._clock.monotonic() + wait
        if self._throttled == 1:
            logger.warning("%s: serving the last report; refreshing it less often", exc)
        return self._served_instead(exc)

    def _fallback(self, exc: Exception) -> TopPages:
        self._failures += 1
        wait = self._policy.hold_after_failure(self._failures)
        self._hold_until = self._clock.monotonic() + wait
        logger.warning("top pages fetch failed: %s; next try in %.0fs", exc, wait)
        return self._served_instead(exc)

    def _served_instead(self, exc: Exception) -> TopPages:
        """The last report, stale; ReportUnavailable when there is none."""
        if self._last is None:
            self.outcomes["unavailable"] += 1
            raise ReportUnavailable(str(exc)) from None
        self.outcomes["stale"] += 1
        return replace(self._last, stale=True)
