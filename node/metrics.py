"""Prometheus metrics of one node, in a registry of its own (no global state).

Conventions of Prometheus: base units (seconds), ``_seconds`` and ``_total`` suffixes. Besides
request counts: request duration histograms per route, the duration of every call to IMS and to
Analytics, the token's age and seconds left (absent while there is no token: a 0 would read as
"expires now"), and the report fetches by outcome (``throttled`` for Analytics' 429s).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from tokensim_token import AccessToken, ProviderStatus, TokenFetcher, TokenGrant, TokenState
from tokensim_token.secrets import Secret

from core.histogram import Histogram, histogram_family
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
        # Not described at registration: the token provider it reports on is made after it.
        self.registry = CollectorRegistry(auto_describe=False)
        # Counted in a plain dict, turned into a metric when scraped: a prometheus_client
        # Counter takes a lock on every request.
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.durations: dict[str, Histogram] = {}
        self.upstream: dict[str, Histogram] = {}
        self.refused = refused if refused is not None else collections.Counter()
        self.registry.register(
            _RequestCollector(self.requests, self.durations, self.upstream, self.refused)
        )
        self.registry.register(_TokenCollector(status, outcomes))

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
        return generate_latest(self.registry)


UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _RequestCollector(Collector):
    def __init__(
        self,
        requests: collections.Counter[tuple[str, int]],
        durations: dict[str, Histogram],
        upstream: dict[str, Histogram],
        refused: collections.Counter[str],
    ) -> None:
        self._requests = requests
        self._durations = durations
        self._upstream = upstream
        self._refused = refused

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "tokensim_node_requests",
            "HTTP requests served, by route and status",
            labels=["route", "status"],
        )
        for (route, status), count in sorted(self._requests.items()):
            family.add_metric([route, str(status)], count)
        yield family
        refused = CounterMetricFamily(
            "tokensim_node_control_plane_refused",
            "Requests to the control plane refused (foreign Host, cross-site), by reason",
            labels=["reason"],
        )
        for reason, count in sorted(self._refused.items()):
            refused.add_metric([reason], count)
        yield refused
        yield histogram_family(
            "tokensim_node_request_duration_seconds",
            "Time to answer a request, by route",
            "route",
            self._durations,
        )
        yield histogram_family(
            "tokensim_upstream_request_duration_seconds",
            "Time of a call to IMS or to Analytics, whatever its outcome",
            "upstream",
            self._upstream,
        )


class _TokenCollector(Collector):
    def __init__(
        self, status: Callable[[], ProviderStatus], outcomes: Callable[[], dict[str, int]]
    ) -> None:
        self._status = status
        self._outcomes = outcomes

    def collect(self) -> Iterator[Metric]:
        s = self._status()
        calls = CounterMetricFamily(
            "tokensim_token_calls", "Calls to the token endpoint, by outcome", labels=["outcome"]
        )
        calls.add_metric(["ok"], s.refresh_count)
        calls.add_metric(["failed"], s.failed_refreshes)
        yield calls
        if s.seconds_left is not None:  # no token: no value (a 0 would read "expires now")
            yield GaugeMetricFamily(
                "tokensim_token_seconds_left",
                "Seconds before the token expires",
                value=s.seconds_left,
            )
        if s.age_seconds is not None:
            yield GaugeMetricFamily(
                "tokensim_token_age_seconds",
                "Seconds since the token in use was obtained",
                value=s.age_seconds,
            )
        state = GaugeMetricFamily(
            "tokensim_token_state", "Token state (1 = current)", labels=["state"]
        )
        for candidate in TokenState:
            state.add_metric([candidate.value], 1.0 if s.state is candidate else 0.0)
        yield state
        yield GaugeMetricFamily(
            "tokensim_token_config_error",
            "1 when the credentials are refused",
            value=1.0 if s.configuration_error else 0.0,
        )
        reports = CounterMetricFamily(
            "tokensim_report_fetches", "Top-pages report outcomes", labels=["outcome"]
        )
        for outcome, count in sorted(self._outcomes().items()):
            reports.add_metric([outcome], count)
        yield reports


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
