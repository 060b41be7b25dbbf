"""The publisher node's aiohttp application: ``create_app(topology, node_id, ...)``.

Routes: the home page (``/content/site/en.html``, and ``/``), whose "most visited pages"
component fetches its data from ``/content/site/en/top-pages.json`` (cacheable: its
``Cache-Control: max-age`` is the time to the report's next refresh), ``/api/top-pages`` (the
same data, never cached), ``/content/...html`` (the pages it links to), ``/static/site.css``,
``/health``, ``/status`` and ``/metrics``. Every response carries ``X-Publisher: <id>``. The
token provider, the report's refresher, the Analytics client and their HTTP session are
created and closed by one cleanup context.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
from aiohttp import web
from tokensim_token import TokenFetcher

from core.control_plane import ControlPlaneGuard
from core.service import HEAD_LIMITS, HeadLimits, lifecycle_of
from core.topology import Topology
from node import pages, render, replication_http
from node.appkeys import GUARD, METRICS, NODE_ID, RENDERED, REPORTS, TOKENS, TOPOLOGY
from node.clients import analytics_client, ims_client
from node.metrics import NodeMetrics, TimedFetcher, TimedSource
from node.operations import health, metrics, status
from node.published import NoTokens, PublishedReports
from node.replication_http import (
    FOLLOWER,
    LEADER,
    PUSHED_REPORT,
    HttpReplication,
    current_token,
    receive_report,
    receive_token,
)
from node.report_sharing import PushedReport, StoreSharedReport
from node.reports import TopPagesService, TopPagesSource
from node.token.strategies import TokenDeps, build_provider, shared_store, strategy


@dataclass(frozen=True, slots=True)
class NodeDeps(TokenDeps):
    """What a node needs from outside its config: its token code's, and optionally a fetcher
    of its own (tests); tests inject their own clock and rng."""

    fetcher: Callable[[aiohttp.ClientSession], TokenFetcher] | None = None


HOME = "/content/site/en.html"  # the site's home page, as AEM would name it
WIDGET = "/content/site/en/top-pages.json"  # its "most visited pages" component's data

CONTROL_PLANE = frozenset({"/status", "/metrics", *replication_http.PATHS})


def create_app(topology: Topology, node_id: str, deps: NodeDeps) -> web.Application:
    publisher = topology.publisher(node_id)  # fails early on an unknown id
    app = web.Application()
    app[HEAD_LIMITS] = HeadLimits.behind_balancer(topology, hops=2)  # balancer, dispatcher
    app[NODE_ID] = node_id
    app[TOPOLOGY] = topology
    guard = app[GUARD] = ControlPlaneGuard([publisher.host])
    app[RENDERED] = render.RenderedReports(node_id, WIDGET)
    lifecycle_of(app)
    app.cleanup_ctx.append(_services(topology, node_id, deps))
    # Every response is tagged with the publisher that answered and counted. The two pages
    # every visitor gets do it themselves (node.pages); the other handlers are wrapped
    # (``_served``).
    app.router.add_get("/", pages.home("/"))
    app.router.add_get(HOME, pages.home(HOME))
    app.router.add_get(WIDGET, pages.top_pages(WIDGET, widget=True))
    app.router.add_get("/api/top-pages", pages.top_pages("/api/top-pages", widget=False))
    routes = [
        ("GET", "/static/site.css", stylesheet),
        ("GET", "/health", health),
        ("GET", "/status", status),
        ("GET", "/metrics", metrics),
    ]
    if topology.analytics.published:
        routes += [("PUT", replication_http.REPORT_PATH, receive_report)]
    elif strategy(topology.token.strategy).needs_replication:
        routes += [
            ("PUT", replication_http.PATH, receive_token),
            ("GET", replication_http.PATH, current_token),
            ("PUT", replication_http.REPORT_PATH, receive_report),
        ]
    for method, path, handler in routes:
        checked = guard.guard(handler) if path in CONTROL_PLANE else handler
        app.router.add_route(method, path, _served(checked, path))
    content_pages = r"/content/{page:[A-Za-z0-9/_.~-]+}.html"
    app.router.add_get(content_pages, _served(content, "/content/[page].html"))
    known = {"/", HOME, WIDGET, "/api/top-pages", *(path for _, path, _ in routes)}
    app.router.add_route("*", "/{tail:.*}", _served(_not_served(known), "unmatched"))
    return app


def _services(
    topology: Topology, node_id: str, deps: NodeDeps
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def services(app: web.Application) -> AsyncIterator[None]:
        user_agent = f"tokensim-node/{node_id}"
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
        ) as session:
            metrics = app[METRICS] = NodeMetrics(
                lambda: app[TOKENS].status(),
                lambda: dict(app[REPORTS].outcomes),
                refused=app[GUARD].refused,
            )
            if topology.analytics.published:
                async with _published(app, topology, node_id, deps, session):
                    yield
                return
            fetcher = (
                deps.fetcher(session)
                if deps.fetcher
                else ims_client(
                    session, topology, user_agent=user_agent, wall_clock=deps.clock.wall
                )
            )
            transport = HttpReplication(
                session,
                {p.id: p.url for p in topology.publishers},
                timeout=topology.ims.timeout,
            )
            timed = TimedFetcher(fetcher, metrics)
            built = build_provider(topology, node_id, deps, timed, transport=transport)
            provider = built.provider
            if built.leader is not None:
                app[LEADER] = built.leader
            if built.follower is not None:
                app[FOLLOWER] = built.follower
            analytics = analytics_client(
                session, topology, user_agent=user_agent, wall_clock=deps.clock.wall
            )
            source = _report_source(
                app, topology, node_id, deps, TimedSource(analytics, metrics), transport
            )
            reports = TopPagesService(
                analytics=source,
                tokens=provider,
                refresh=topology.analytics.report_refresh,
                jitter=topology.analytics.report_jitter,
                clock=deps.clock,
                single_flight=strategy(topology.token.strategy).single_flight,
            )
            app[TOKENS] = provider
            app[REPORTS] = reports
            _answering(app, topology, node_id)
            await provider.start()
            await reports.start()
            try:
                yield
            finally:
                await reports.close()
                await provider.close()
                if PUSHED_REPORT in app:
                    await app[PUSHED_REPORT].close()

    return services


@contextlib.asynccontextmanager
async def _published(
    app: web.Application,
    topology: Topology,
    node_id: str,
    deps: NodeDeps,
    session: aiohttp.ClientSession,
) -> AsyncIterator[None]:
    assert topology.author is not None  # checked when topology.yaml was parsed
    reports = PublishedReports(
        deps.keyring,
        Path(topology.token.state_dir) / "content" / f"{node_id}-top-pages.sealed",
        author_url=topology.author.url,
        session=session,
        wall_clock=deps.clock.wall,
    )
    app[TOKENS] = NoTokens()
    app[REPORTS] = app[PUSHED_REPORT] = reports
    _answering(app, topology, node_id)
    await reports.start()
    try:
        yield
    finally:
        await reports.close()


def _answering(app: web.Application, topology: Topology, node_id: str) -> None:
    """What the hot pages need, looked up once (node.pages)."""
    app[pages.ANSWERING] = pages.Answering(
        node_id, app[METRICS], app[REPORTS], app[RENDERED], topology.analytics.widget_cache
    )


def _report_source(
    app: web.Application,
    topology: Topology,
    node_id: str,
    deps: NodeDeps,
    analytics: TopPagesSource,
    transport: HttpReplication,
) -> TopPagesSource:
    """Where the node's reports come from: Analytics itself, or the cluster's one report
    (``analytics.report_sharing: shared``): pushed by the replicated design's leader, or kept
    in the shared store under a lease by every other design (:mod:`node.report_sharing`)."""
    config = topology.analytics
    if config.report_sharing != "shared":
        return analytics
    token = topology.token
    if strategy(token.strategy).needs_replication:
        leader = token.leader or topology.publishers[0].id
        pushed = app[PUSHED_REPORT] = PushedReport(
            analytics,
            deps.keyring,
            leader=node_id == leader,
            followers=[p.id for p in topology.publishers if p.id != node_id],
            transport=transport,
            refresh=config.report_refresh,
            lag=token.replication.lag,
            wall_clock=deps.clock.wall,
        )
        return pushed
    return StoreSharedReport(
        analytics,
        shared_store(topology, deps, purpose="report"),
        deps.keyring,
        owner=node_id,
        refresh=config.report_refresh,
        lease_ttl=token.lease_ttl,
        wall_clock=deps.clock.wall,
    )


# --- what every response gets -------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_R = TypeVar("_R", bound=web.StreamResponse)


def _served(handler: Handler, route: str) -> Handler:
    """``handler``, with every response it gives (errors too) tagged with the publisher that
    answered (``X-Publisher``) and counted in the node's metrics under ``route``."""

    async def served(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _answered(request, route, exc, started)
            raise
        return _answered(request, route, response, started)

    return served


def _answered(request: web.Request, route: str, response: _R, started: float) -> _R:
    """``response``, tagged with the publisher that answered, and counted and timed (since
    ``started``, a ``time.perf_counter()`` reading) under ``route``."""
    app = request.app
    response.headers["X-Publisher"] = app[NODE_ID]
    app[METRICS].count(route, response.status, time.perf_counter() - started)
    return response


def _not_served(known: set[str]) -> Handler:
    async def not_served(request: web.Request) -> web.StreamResponse:
        if request.path in known:
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        raise web.HTTPNotFound()

    return not_served


# --- handlers ------------------------------------------------------------------------------


async def content(request: web.Request) -> web.Response:
    """A page of the site: no Cache-Control, as AEM sends none for a page; the dispatcher
    keeps it until a flush (docs/world.md)."""
    return web.Response(
        text=render.content_page(request.app[NODE_ID], request.path),
        content_type="text/html",
    )


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        text=render.STYLESHEET,
        content_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )
