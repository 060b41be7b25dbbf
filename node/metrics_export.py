"""The node's counts as Prometheus metric families, when ``/metrics`` is scraped
(:class:`node.metrics.NodeMetrics` counts them; this module, and prometheus_client with it,
is imported at the first scrape)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from tokensim_token import ProviderStatus, TokenState

from core.histogram import Histogram, histogram_family

if TYPE_CHECKING:
    from node.metrics import NodeMetrics


def registry_of(metrics: NodeMetrics) -> Any:
    # Not described at registration: the token provider it reports on may come after it.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        _RequestCollector(metrics.requests, metrics.durations, metrics.upstream, metrics.refused)
    )
    registry.register(_TokenCollector(metrics.status, metrics.outcomes))
    return registry


def latest(registry: Any) -> bytes:
    text: bytes = generate_latest(registry)
    return text


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
