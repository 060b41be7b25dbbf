"""The publisher node's aiohttp application: ``create_app(topology, node_id, ...)``.

Routes: ``/`` (home page), ``/api/top-pages`` (JSON), ``/static/site.css``, ``/health``,
``/status`` and ``/metrics``. Every response carries ``X-Publisher: <id>``. The token provider,
the Analytics client and their HTTP session are created and closed by one cleanup context.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import aiohttp
from aiohttp import web

from core.clock import Clock
from core.secrets import Secret
from core.service import lifecycle_of
from core.topology import Topology
from node import render, replication_http
from node.analytics_client import AnalyticsClient, ReportQuery
from node.metrics import NodeMetrics
from node.replication_http import (
    FOLLOWER,
    LEADER,
    HttpReplication,
    current_token,
    receive_token,
)
from node.reports import ReportUnavailable, TopPagesService
from node.token import (
    Backoff,
    Coordinator,
    EncryptedTokenFile,
    ImsTokenClient,
    Keyring,
    NaiveTokenProvider,
    OwnFile,
    ProviderSettings,
    RefreshingTokenProvider,
    RefreshPolicy,
    SharedToken,
    TokenFetcher,
    TokenProvider,
    TokenState,
)
from node.token.coordination import SharedStore
from node.token.file_store import FileStore
from node.token.redis_store import RedisStore
from node.token.replication import (
    ReplicaFollower,
    ReplicationLeader,
    ReplicationSettings,
    ReplicationTransport,
)
from node.token.scheduled import ScheduledTokenProvider


@dataclass(frozen=True, slots=True)
class NodeDeps:
    """What a node needs from outside its config; tests inject their own clock and rng."""

    secrets: Sequence[Secret]
    keyring: Keyring
    clock: Clock = dataclasses.field(default_factory=Clock.system)
    rng: random.Random = dataclasses.field(default_factory=random.SystemRandom)
    fetcher: Callable[[aiohttp.ClientSession], TokenFetcher] | None = None
    store_password: Secret | None = None  # token.store.password_env, read at start


NODE_ID = web.AppKey("node_id", str)
TOKENS = web.AppKey("tokens", TokenProvider)
REPORTS = web.AppKey("reports", TopPagesService)
METRICS = web.AppKey("metrics", NodeMetrics)
RENDERED = web.AppKey("rendered", render.RenderedReports)


def create_app(topology: Topology, node_id: str, deps: NodeDeps) -> web.Application:
    topology.publisher(node_id)  # fails early on an unknown id
    app = web.Application()
    app[NODE_ID] = node_id
    app[RENDERED] = render.RenderedReports(node_id)
    lifecycle_of(app)
    app.cleanup_ctx.append(_services(topology, node_id, deps))
    # Every response is tagged with the publisher that answered and counted. The two pages
    # every visitor gets do it themselves (``_answered``); the other handlers are wrapped
    # (``_served``). aiohttp's on_response_prepare signal cost a tenth of the node's
    # throughput, a wrapper around the hot pages still 5 % (``make bench``).
    app.router.add_get("/", home)
    app.router.add_get("/api/top-pages", top_pages)
    routes = [
        ("GET", "/static/site.css", stylesheet),
        ("GET", "/health", health),
        ("GET", "/status", status),
        ("GET", "/metrics", metrics),
    ]
    if topology.token.strategy == "replicated":
        routes += [
            ("PUT", replication_http.PATH, receive_token),
            ("GET", replication_http.PATH, current_token),
        ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _served(handler, path))
    known = {"/", "/api/top-pages", *(path for _, path, _ in routes)}
    app.router.add_route("*", "/{tail:.*}", _served(_not_served(known), "unmatched"))
    return app


def build_provider(
    topology: Topology,
    node_id: str,
    deps: NodeDeps,
    fetcher: TokenFetcher,
    *,
    transport: ReplicationTransport | None = None,
) -> tuple[TokenProvider, Coordinator | None]:
    """The token provider of ``token.strategy``, all behind the one TokenProvider interface,
    and the coordinator it uses (None for the strategies that have none)."""
    token = topology.token
    if token.strategy == "naive":
        return NaiveTokenProvider(fetcher=fetcher, secrets=deps.secrets, clock=deps.clock), None
    leader = token.leader or topology.publishers[0].id
    if token.strategy == "scheduled":
        store = SharedToken(
            _shared_store(topology, deps), deps.keyring, owner=node_id, lease_ttl=token.lease_ttl
        )
        scheduled = ScheduledTokenProvider(
            fetcher=fetcher,
            secrets=deps.secrets,
            store=store,
            clock=deps.clock,
            rng=deps.rng,
            leader=node_id == leader,
            interval=token.schedule_interval,
            poll=token.peer_poll,
            wait_timeout=token.wait_timeout,
            backoff=Backoff(token.retry.base, token.retry.cap),
        )
        return scheduled, store
    policy = RefreshPolicy(token.refresh_at, token.refresh_jitter, token.expiry_margin)
    settings = ProviderSettings(
        policy=policy,
        backoff=Backoff(token.retry.base, token.retry.cap),
        config_error_interval=token.retry.config_error_interval,
        wait_timeout=token.wait_timeout,
        peer_poll=token.peer_poll,
    )
    coordinator = _coordinator(topology, node_id, deps, policy, leader, transport)
    provider = RefreshingTokenProvider(
        fetcher=fetcher,
        secrets=deps.secrets,
        settings=settings,
        clock=deps.clock,
        rng=deps.rng,
        coordinator=coordinator,
    )
    return provider, coordinator


def _coordinator(
    topology: Topology,
    node_id: str,
    deps: NodeDeps,
    policy: RefreshPolicy,
    leader: str,
    transport: ReplicationTransport | None,
) -> Coordinator:
    token = topology.token
    if token.strategy == "shared":
        return SharedToken(
            _shared_store(topology, deps), deps.keyring, owner=node_id, lease_ttl=token.lease_ttl
        )
    own = OwnFile(
        EncryptedTokenFile(
            Path(token.state_dir) / "nodes" / f"{node_id}.token", deps.keyring, owner=node_id
        )
    )
    if token.strategy != "replicated":
        return own
    if transport is None:
        raise ValueError("the replicated strategy needs a transport between nodes")
    settings = ReplicationSettings(
        lag=token.replication.lag,
        loss=token.replication.loss,
        fallback=token.replication.fallback,
        leader_grace=token.wait_timeout / 2,  # so that waiting requests still get its token
    )
    if node_id == leader:
        return ReplicationLeader(
            own,
            deps.keyring,
            node_id=node_id,
            followers=[p.id for p in topology.publishers if p.id != node_id],
            transport=transport,
            settings=settings,
            rng=deps.rng,
            wall_clock=deps.clock.wall,
        )
    return ReplicaFollower(
        own,
        deps.keyring,
        leader=leader,
        transport=transport,
        settings=settings,
        margin=policy.margin,
        wall_clock=deps.clock.wall,
    )


def _shared_store(topology: Topology, deps: NodeDeps) -> SharedStore:
    """Where ``shared`` and ``scheduled`` keep the cluster's token: ``token.store``."""
    config = topology.token.store
    if config.kind == "redis":
        assert config.url is not None  # checked when topology.yaml was parsed
        return RedisStore(
            config.url,
            prefix=config.key_prefix,
            wall_clock=deps.clock.wall,
            password=deps.store_password,
            timeout=config.timeout,
        )
    return FileStore(Path(topology.token.state_dir) / "shared", wall_clock=deps.clock.wall)


def _services(
    topology: Topology, node_id: str, deps: NodeDeps
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def services(app: web.Application) -> AsyncIterator[None]:
        user_agent = f"tokensim-node/{node_id}"
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
        ) as session:
            fetcher = (
                deps.fetcher(session)
                if deps.fetcher
                else ImsTokenClient(
                    session,
                    token_url=topology.ims.token_url,
                    client_id=topology.ims.client_id,
                    scope=topology.ims.scope,
                    timeout=topology.ims.timeout,
                    user_agent=user_agent,
                    wall_clock=deps.clock.wall,
                )
            )
            transport = HttpReplication(
                session,
                {p.id: p.url for p in topology.publishers},
                timeout=topology.ims.timeout,
            )
            provider, coordinator = build_provider(
                topology, node_id, deps, fetcher, transport=transport
            )
            if isinstance(coordinator, ReplicationLeader):
                app[LEADER] = coordinator
            elif isinstance(coordinator, ReplicaFollower):
                app[FOLLOWER] = coordinator
            analytics = AnalyticsClient(
                session,
                base_url=topology.analytics.base_url,
                api_key=topology.ims.client_id,
                query=ReportQuery(
                    company_id=topology.analytics.company_id,
                    rsid=topology.analytics.rsid,
                    top=topology.analytics.top,
                    date_range_days=topology.analytics.date_range_days,
                ),
                timeout=topology.analytics.timeout,
                user_agent=user_agent,
                wall_clock=deps.clock.wall,
            )
            reports = TopPagesService(
                analytics=analytics,
                tokens=provider,
                cache_ttl=topology.analytics.cache_ttl,
                clock=deps.clock,
                single_flight=topology.token.strategy != "naive",
            )
            app[TOKENS] = provider
            app[REPORTS] = reports
            app[METRICS] = NodeMetrics(provider.status, lambda: dict(reports.outcomes))
            await provider.start()
            try:
                yield
            finally:
                await provider.close()

    return services


# --- what every response gets -------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_R = TypeVar("_R", bound=web.StreamResponse)


def _served(handler: Handler, route: str) -> Handler:
    """``handler``, with every response it gives (errors too) tagged with the publisher that
    answered (``X-Publisher``) and counted in the node's metrics under ``route``."""

    async def served(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _answered(request, route, exc)
            raise
        return _answered(request, route, response)

    return served


def _answered(request: web.Request, route: str, response: _R) -> _R:
    """``response``, tagged with the publisher that answered and counted under ``route``."""
    app = request.app
    response.headers["X-Publisher"] = app[NODE_ID]
    app[METRICS].count(route, response.status)
    return response


def _not_served(known: set[str]) -> Handler:
    async def not_served(request: web.Request) -> web.StreamResponse:
        if request.path in known:
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        raise web.HTTPNotFound()

    return not_served


# --- handlers ------------------------------------------------------------------------------


async def home(request: web.Request) -> web.Response:
    node_id = request.app[NODE_ID]
    reports = request.app[REPORTS]
    try:
        report = reports.fresh() or await reports.get()
    except ReportUnavailable:
        unavailable = web.Response(
            text=render.unavailable_page(node_id),
            status=503,
            content_type="text/html",
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
        )
        return _answered(request, "/", unavailable)
    page = web.Response(
        text=request.app[RENDERED].home_page(report),
        content_type="text/html",
        headers=_cache_headers(report.stale),
    )
    return _answered(request, "/", page)


async def top_pages(request: web.Request) -> web.Response:
    node_id = request.app[NODE_ID]
    reports = request.app[REPORTS]
    try:
        report = reports.fresh() or await reports.get()
    except ReportUnavailable:
        unavailable = web.json_response(
            {"node": node_id, "error": "top pages are unavailable right now"},
            status=503,
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
        )
        return _answered(request, "/api/top-pages", unavailable)
    pages = web.Response(
        body=request.app[RENDERED].top_pages_json(report),
        content_type="application/json",
        headers=_cache_headers(report.stale),
    )
    return _answered(request, "/api/top-pages", pages)


def _cache_headers(stale: bool) -> Mapping[str, str]:
    # A stale report must not be cached downstream (the dispatcher) as if it were fresh.
    return _STALE if stale else _FRESH


_FRESH = MappingProxyType({"Cache-Control": "public, max-age=0, must-revalidate"})
_STALE = MappingProxyType({"Cache-Control": "no-cache"})


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        text=render.STYLESHEET,
        content_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def health(request: web.Request) -> web.Response:
    """200 while serving; 503 while starting (no token and no report yet) or draining."""
    app = request.app
    if lifecycle_of(app).draining:
        state = "draining"
    elif app[TOKENS].state() is TokenState.INVALID and not app[REPORTS].has_report:
        state = "starting"
    else:
        state = "serving"
    return web.json_response(
        {"node": app[NODE_ID], "status": state},
        status=200 if state == "serving" else 503,
        headers={"Cache-Control": "no-store"},
    )


async def status(request: web.Request) -> web.Response:
    """The token's state for operators: fingerprint, seconds left, counts, errors. No token."""
    app = request.app
    snapshot = dataclasses.asdict(app[TOKENS].status())
    snapshot["state"] = snapshot["state"].value
    return web.json_response(
        {"node": app[NODE_ID], "token": snapshot, "reports": dict(app[REPORTS].outcomes)},
        headers={"Cache-Control": "no-store"},
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
