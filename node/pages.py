"""The two pages every visitor gets: the home page and its "most visited pages" data (the
widget's URL, and ``/api/top-pages``, the same data never cached).

They are the node's hot path (``make bench`` holds the node to 0.9x a bare aiohttp handler
returning the same reply), so what they need is looked up once per node, not per request
(:class:`Answering`, built when the node's services are up), each route has its own handler
(no test of the path), and their headers, ``X-Publisher`` among them, go into the response as
it is made (setting a header afterwards, or aiohttp's on_response_prepare signal, cost 5 % and
a tenth of the node's throughput). Each is counted and timed in the node's metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from core.topology import WidgetCacheConfig
from node import render
from node.errors import ReportUnavailable
from node.metrics import NodeMetrics
from node.published import PublishedReports
from node.reports import Reports, TopPages

Page = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(slots=True)
class Answering:
    """What the hot pages need, for the node's life."""

    node_id: str
    metrics: NodeMetrics
    reports: Reports
    rendered: render.RenderedReports
    edge: WidgetCacheConfig | None  # edge-cached: the CDN's policy for the widget's data
    tagged: dict[str, str] = field(init=False)  # the header every response carries
    no_store: dict[str, str] = field(init=False)  # a reply no cache may keep
    published: bool = field(init=False)

    def __post_init__(self) -> None:
        self.tagged = {"X-Publisher": self.node_id}
        self.no_store = {"Cache-Control": "no-store", "Dispatcher": "no-cache", **self.tagged}
        self.published = isinstance(self.reports, PublishedReports)

    def cache_headers(self, report: TopPages, *, widget: bool) -> dict[str, str]:
        """What a publisher tells the caches in front of it (the dispatcher honours
        ``max-age`` with ``/enableTTL``): the widget's data lives until the report's next
        refresh. A stale report, a report fetched on every page load, and the uncached API
        are not to be kept. (aiohttp copies the dict into the response's headers: the
        constant ones are shared.)"""
        if self.published:  # published content, as AEM sends a page: kept until a flush
            return self.tagged
        if self.edge is not None and widget and not report.stale:  # the caches decide
            return {
                "Cache-Control": self.edge.cache_control(),
                "Surrogate-Control": f"max-age={round(self.edge.max_age)}",
                **self.tagged,
            }
        seconds = int(self.reports.seconds_valid()) if widget and not report.stale else 0
        if seconds > 0:
            return {"Cache-Control": f"max-age={seconds}", **self.tagged}
        return self.no_store


ANSWERING = web.AppKey("answering", Answering)


def home(route: str) -> Page:
    """The home page: the same for everybody (the dispatcher caches it until a flush, as AEM
    pages are); its component fetches the report from the widget's URL."""

    async def page(request: web.Request) -> web.Response:
        started = time.perf_counter()
        answering = request.app[ANSWERING]
        response = web.Response(
            text=answering.rendered.home, content_type="text/html", headers=answering.tagged
        )
        answering.metrics.count(route, 200, time.perf_counter() - started)
        return response

    return page


def top_pages(route: str, *, widget: bool) -> Page:
    """The report as JSON, under ``route``: the widget's cacheable data, or the API's."""

    async def page(request: web.Request) -> web.Response:
        started = time.perf_counter()
        answering = request.app[ANSWERING]
        reports = answering.reports
        try:
            report = reports.fresh() or await reports.get()
        except ReportUnavailable:
            response = web.json_response(
                {"node": answering.node_id, "error": "top pages are unavailable right now"},
                status=503,
                headers={"Retry-After": "5", "Cache-Control": "no-store", **answering.tagged},
            )
        else:
            response = web.Response(
                body=answering.rendered.top_pages_json(report),
                content_type="application/json",
                headers=answering.cache_headers(report, widget=widget),
            )
        answering.metrics.count(route, response.status, time.perf_counter() - started)
        return response

    return page
