"""The "most visited pages" report as the node serves it: refreshed on a schedule, stale on error.

With ``analytics.report_refresh`` above 0 (Adobe's advice: no more than every 30 minutes) one
background task asks Analytics at start and then once per interval, each time up to
``report_jitter`` of it later, at random, so that publishers deployed together drift apart.
Requests never wait for Analytics, except before the first report. With ``report_refresh`` 0
every page load asks (the anti-pattern Adobe warns against): concurrent requests share one
Analytics call (not in the ``naive`` strategy, whose handlers each fetch their own, as code
written without single-flight does).

A 401 drops the token (only if it is still the current one), gets a new one and retries once.
When Analytics or the token fails, the last good report is served with ``stale: true`` rather
than an error, if there is one.

A 429 (over Analytics' 12 requests per 6 s per client) is not a token problem: it never drops
the token or causes a token call. The refresh of the report backs off instead
(:class:`node.report_policy.ReportPolicy`), the last report is served stale meanwhile, and the
episode is logged once when it starts and once when it ends. Throttled calls are counted
(``outcomes["throttled"]``: /status and /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable
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


class Reports(Protocol):
    """What the node's handlers use of its reports: :class:`TopPagesService`, or the
    published report of the author-report design (:mod:`node.published`)."""

    outcomes: Counter[str]

    @property
    def has_report(self) -> bool: ...

    def fresh(self) -> TopPages | None: ...

    def seconds_valid(self) -> float: ...

    async def get(self) -> TopPages: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class TopPagesService:
    def __init__(
        self,
        *,
        analytics: TopPagesSource,
        tokens: TokenProvider,
        refresh: float,
        clock: Clock,
        jitter: float = 0.0,
        single_flight: bool = True,
        rng: random.Random | None = None,
        on_report: Callable[[TopPages], None] | None = None,
    ) -> None:
        self._on_report = on_report  # told of each new report (the author publishes it)
        self._single_flight = single_flight
        self._rng = rng or random.Random()
        self._throttled = 0  # consecutive 429s: the episode in progress
        self._failures = 0  # consecutive other failures
        self._analytics = analytics
        self._tokens = tokens
        self._refresh_every = refresh
        self._jitter = jitter
        self._policy = ReportPolicy(refresh)
        self._clock = clock
        self._last: TopPages | None = None
        self._shown: TopPages | None = None  # what requests get now (stale after a failure)
        self._hold_until = float("-inf")
        self._next_at = float("-inf")  # scheduled: the next refresh
        self._in_flight: asyncio.Task[TopPages] | None = None
        self._task: asyncio.Task[None] | None = None
        self.outcomes: Counter[str] = Counter()

    @property
    def scheduled(self) -> bool:
        """Refreshed on a schedule (else on every page load)."""
        return self._refresh_every > 0

    @property
    def has_report(self) -> bool:
        return self._last is not None

    async def start(self) -> None:
        """Scheduled: make the first call at once (requests wait for it), then refresh."""
        if self.scheduled and self._task is None:
            self._call()
            self._task = asyncio.create_task(self._refresher(), name="report-refresher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def fresh(self) -> TopPages | None:
        """Scheduled: the report to show now, without a coroutine (the hot path); None before
        the first one, and always on every-page-load."""
        shown = self._shown if self.scheduled else None
        if shown is not None and shown.stale:
            self.outcomes["stale"] += 1  # a request served the last good report
        return shown

    def seconds_valid(self) -> float:
        """How long the report shown now stays the one shown: until the next scheduled
        refresh (0 when it is stale, or refreshed on every page load)."""
        shown = self._shown
        if not self.scheduled or shown is None or shown.stale:
            return 0.0
        return max(0.0, self._next_at - self._clock.monotonic())

    async def get(self) -> TopPages:
        fresh = self.fresh()
        if fresh is not None:
            return fresh
        if self.scheduled:
            return await self._first_report()
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

    async def _first_report(self) -> TopPages:
        """Scheduled, and no report yet: join the refresher's call in flight."""
        if self._in_flight is None:
            raise ReportUnavailable("no report yet; the next try is scheduled")
        return await asyncio.shield(self._in_flight)

    def _call(self) -> None:
        self._in_flight = asyncio.create_task(self._refresh(), name="top-pages")
        self._in_flight.add_done_callback(self._done)

    async def _refresher(self) -> None:
        while True:
            if self._in_flight is not None:
                with contextlib.suppress(ReportUnavailable):
                    await asyncio.shield(self._in_flight)
            now = self._clock.monotonic()
            if self._shown is not None and not self._shown.stale:
                spread = self._rng.uniform(0.0, self._jitter)
                self._next_at = now + self._refresh_every * (1.0 + spread)
            else:
                self._next_at = max(self._hold_until, now + self._policy.failure_hold)
            await asyncio.sleep(self._next_at - now)
            self._call()

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
        self._last = self._shown = TopPages(pages=pages, fetched_at=self._clock.wall())
        self.outcomes["ok"] += 1
        if self._on_report is not None:
            self._on_report(self._last)
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
        if not self.scheduled:  # the request that asked gets the last good report
            self.outcomes["stale"] += 1
        self._shown = replace(self._last, stale=True)
        return self._shown
