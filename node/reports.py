"""The "most visited pages" report as the node serves it: cached, single-flight, stale on error.

Concurrent requests share one Analytics call (not in the ``naive`` strategy, whose handlers each
fetch their own, as code written without single-flight does). A 401 drops the token (only if it
is still the current one), gets a new one and retries once. When Analytics or the token fails,
the last good report is served with ``stale: true`` rather than an error, if there is one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol

from core.clock import Clock
from node.analytics_client import PageVisits
from node.errors import AnalyticsError, AnalyticsUnauthorized, ReportUnavailable
from node.token import AccessToken, TokenProvider, TokenUnavailable

logger = logging.getLogger(__name__)

FAILURE_HOLD = 1.0  # after a failed fetch, serve the stale report this long before retrying


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
    ) -> None:
        self._single_flight = single_flight
        self._analytics = analytics
        self._tokens = tokens
        self._cache_ttl = cache_ttl
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
        if last is not None and now < self._hold_until:
            self.outcomes["stale"] += 1
            return replace(last, stale=True)
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
        except (AnalyticsError, TokenUnavailable) as exc:
            return self._fallback(exc)
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

    def _fallback(self, exc: Exception) -> TopPages:
        self._hold_until = self._clock.monotonic() + min(FAILURE_HOLD, self._cache_ttl or 1.0)
        logger.warning("top pages fetch failed: %s", exc)
        if self._last is None:
            self.outcomes["unavailable"] += 1
            raise ReportUnavailable(str(exc)) from None
        self.outcomes["stale"] += 1
        return replace(self._last, stale=True)
