"""Prometheus metrics of one node, in a registry of its own (no global state)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.token import ProviderStatus, TokenState


class NodeMetrics:
    def __init__(
        self, status: Callable[[], ProviderStatus], outcomes: Callable[[], dict[str, int]]
    ):
        self.registry = CollectorRegistry(auto_describe=True)
        # Counted in a plain dict, turned into a metric when scraped: a prometheus_client
        # Counter takes a lock on every request.
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.registry.register(_RequestCollector(self.requests))
        self.registry.register(_TokenCollector(status, outcomes))

    def count(self, route: str, status: int) -> None:
        self.requests[route, status] += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RequestCollector(Collector):
    def __init__(self, requests: collections.Counter[tuple[str, int]]) -> None:
        self._requests = requests

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "tokensim_node_requests",
            "HTTP requests served, by route and status",
            labels=["route", "status"],
        )
        for (route, status), count in sorted(self._requests.items()):
            family.add_metric([route, str(status)], count)
        yield family


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
        yield GaugeMetricFamily(
            "tokensim_token_seconds_left",
            "Seconds before the token expires",
            value=s.seconds_left or 0.0,
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
