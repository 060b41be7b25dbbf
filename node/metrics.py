"""Prometheus metrics of one node, in a registry of its own (no global state): counted here
on the hot path, turned into Prometheus' families when scraped (:mod:`node.metrics_export`).

Conventions of Prometheus: base units (seconds), ``_seconds`` and ``_total`` suffixes. Besides
request counts: request duration histograms per route, the duration of every call to IMS and to
Analytics, the token's age and seconds left (absent while there is no token: a 0 would read as
"expires now"), and the report fetches by outcome (``throttled`` for Analytics' 429s).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

from tokensim_token import AccessToken, ProviderStatus, TokenFetcher, TokenGrant
from tokensim_token.secrets import Secret

from core.histogram import Histogram
from node.analytics_client import PageVisits
from node.reports import TopPagesSource


class NodeMetrics:
    def __init__(
        self,
        status: Callable[[], ProviderStatus],
        outcomes: Callable[[], dict[str, int]],
        *,
        refused: collections.Counter[str] | None = None,
    ):
        # Counted in a plain dict, turned into a metric when scraped: a prometheus_client
        # Counter takes a lock on every request.
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.durations: dict[str, Histogram] = {}
        self.upstream: dict[str, Histogram] = {}
        self.refused = refused if refused is not None else collections.Counter()
        self.status = status
        self.outcomes = outcomes
        self._registry: Any = None  # made at the first scrape (node.metrics_export)

    def count(self, route: str, status: int, seconds: float | None = None) -> None:
        self.requests[route, status] += 1
        if seconds is not None:
            histogram = self.durations.get(route)
            if histogram is None:
                histogram = self.durations[route] = Histogram()
            histogram.observe(seconds)

    def upstream_call(self, upstream: str, seconds: float) -> None:
        """One call to ``upstream`` (``ims`` or ``analytics``) took ``seconds``."""
        histogram = self.upstream.get(upstream)
        if histogram is None:
            histogram = self.upstream[upstream] = Histogram(UPSTREAM_BUCKETS)
        histogram.observe(seconds)

    def render(self) -> bytes:
        """The metrics in Prometheus' text format. prometheus_client is imported at the first
        scrape, not at the node's start: it was 30 ms of the CPU of every start."""
        from node import metrics_export

        if self._registry is None:
            self._registry = metrics_export.registry_of(self)
        return metrics_export.latest(self._registry)


UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class TimedFetcher:
    """A token fetcher whose every call (success or not) is timed as an ``ims`` call."""

    def __init__(self, fetcher: TokenFetcher, metrics: NodeMetrics) -> None:
        self._fetcher = fetcher
        self._metrics = metrics

    async def fetch(self, secret: Secret) -> TokenGrant:
        started = time.perf_counter()
        try:
            return await self._fetcher.fetch(secret)
        finally:
            self._metrics.upstream_call("ims", time.perf_counter() - started)


class TimedSource:
    """A report source whose every call (success or not) is timed as an ``analytics`` call."""

    def __init__(self, source: TopPagesSource, metrics: NodeMetrics) -> None:
        self._source = source
        self._metrics = metrics

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]:
        started = time.perf_counter()
        try:
            return await self._source.top_pages(token)
        finally:
            self._metrics.upstream_call("analytics", time.perf_counter() - started)
