"""The dispatcher application: ``create_app(topology, dispatcher_id, clock=...)``.

* Every path goes through the /filter allow-list; anything else is 404, whatever the tricks.
* What is cached, and for how long, is decided by :mod:`lb.dispatcher.rules` (the AEM
  dispatcher's rules, Experience League KB ka-17497); replies are marked ``X-Cache: HIT`` or
  ``MISS``; a HEAD may be answered from a cached GET, never stored itself.
* ``POST /dispatcher/invalidate.cache`` with ``CQ-Handle: /path`` (or none for everything) is the
  flush agent's invalidation (the path's files removed, the ``.stat`` files touched), as AEM's
  ``/allowedClients`` allows it: only from an address in ``dispatcher.flush_clients``
  (loopback by default) and never through a proxy (any ``X-Forwarded-*``, ``Forwarded`` or
  ``Via`` header: the load balancer always adds one).
* ``GET /health`` reflects the publisher's health (ALB-style checks hit the dispatcher and test
  the publisher behind it). When the publisher cannot be reached a reply says so with
  ``X-Dispatcher-Error``, so the load balancer knows it may retry elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from core.control_plane import ControlPlaneGuard
from core.forwarding import DISPATCHER_ERROR_HEADER, forwardable, with_forwarded_for
from core.service import HEAD_LIMITS, HeadLimits, lifecycle_of
from core.topology import DispatcherSettings, Topology
from lb.dispatcher.cache import ReplyCache
from lb.dispatcher.filters import PathFilter
from lb.dispatcher.rules import reply_decision, request_decision

DISPATCHER_ID = web.AppKey("dispatcher_id", str)
PUBLISHER_URL = web.AppKey("publisher_url", str)
SETTINGS = web.AppKey("dispatcher_settings", DispatcherSettings)
CACHE = web.AppKey("reply_cache", ReplyCache)
FILTER = web.AppKey("path_filter", PathFilter)
SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
FLUSH_GUARD = web.AppKey("flush_guard", ControlPlaneGuard)
WallClock = Callable[[], float]
WALL_CLOCK: web.AppKey[WallClock] = web.AppKey("wall_clock")


def create_app(
    topology: Topology,
    dispatcher_id: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> web.Application:
    dispatcher = topology.dispatcher_of(dispatcher_id)
    settings = topology.dispatcher
    app = web.Application()
    app[HEAD_LIMITS] = HeadLimits.behind_balancer(topology, hops=1)
    app[DISPATCHER_ID] = dispatcher_id
    app[PUBLISHER_URL] = topology.publisher(dispatcher.publisher).url
    app[SETTINGS] = settings
    app[CACHE] = ReplyCache(settings.cache, clock=clock)
    app[WALL_CLOCK] = wall_clock
    app[FILTER] = PathFilter(settings.allow)
    lifecycle_of(app)
    app.cleanup_ctx.append(_upstream_session)
    app.on_response_prepare.append(_tag)
    app.router.add_get("/health", health)
    guard = app[FLUSH_GUARD] = ControlPlaneGuard()
    flush = guard.guard(_flush)

    async def invalidate(request: web.Request) -> web.StreamResponse:
        """The flush agent's call: from an allowed client, directly, never through a proxy."""
        proxied = any(name in request.headers for name in PROXY_HEADERS)
        if proxied or request.remote not in request.app[SETTINGS].flush_clients:
            return _not_found()
        return await flush(request)

    app.router.add_post("/dispatcher/invalidate.cache", invalidate)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    limits = app[HEAD_LIMITS]  # a publisher's reply heads: as long as what we accept
    async with aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        max_line_size=limits.request_line,
        max_field_size=limits.header,
    ) as session:
        app[SESSION] = session
        yield


async def _tag(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Dispatcher"] = request.app[DISPATCHER_ID]


def _not_found() -> web.Response:
    return web.Response(status=404, text="404 Not Found\n", headers={"X-Cache": "MISS"})


async def forward(request: web.Request) -> web.Response:
    app = request.app
    if not app[FILTER].allows(request.raw_path.split("?", 1)[0]):
        return _not_found()
    cache, settings = app[CACHE], app[SETTINGS]
    method, path = request.method, request.path
    asked = request_decision(
        method, path, request.query_string, request.headers, settings.cache, settings.login_cookie
    )
    if asked.cache and (hit := cache.get(method, path)) is not None:
        return _reply(hit.status, hit.headers, hit.body, "HIT", head=method == "HEAD")
    try:
        status, headers, body = await _ask_publisher(request)
    except aiohttp.ClientConnectionError:
        return _upstream_error(502, "publisher-unreachable")
    except TimeoutError:
        return _upstream_error(504, "publisher-timeout")
    if asked.cache:
        kept = reply_decision(status, headers, settings.cache, app[WALL_CLOCK]())
        if kept.cache:
            cache.put(method, path, status, headers, body, kept.lifetime)
    return _reply(status, headers, body, "MISS", head=method == "HEAD")


async def _ask_publisher(request: web.Request) -> tuple[int, CIMultiDict[str], bytes]:
    app = request.app
    headers = with_forwarded_for(forwardable(request.headers), request.remote)
    body = await request.read() if request.body_exists else None
    async with app[SESSION].request(
        request.method,
        app[PUBLISHER_URL] + request.raw_path,
        headers=headers,
        data=body,
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=app[SETTINGS].timeout),
    ) as response:
        return response.status, forwardable(response.headers), await response.read()


def _reply(
    status: int, headers: CIMultiDict[str], body: bytes, cache: str, *, head: bool
) -> web.Response:
    response = web.Response(status=status, headers=headers, body=None if head else body)
    response.headers["X-Cache"] = cache
    return response


def _upstream_error(status: int, reason: str) -> web.Response:
    return web.Response(
        status=status,
        text=f"{status} the publisher is not available\n",
        headers={DISPATCHER_ERROR_HEADER: reason, "Cache-Control": "no-store"},
    )


async def health(request: web.Request) -> web.Response:
    """200 when this dispatcher and its publisher both serve; 503 otherwise."""
    app = request.app
    if lifecycle_of(app).draining:
        return web.json_response({"status": "draining"}, status=503)
    try:
        async with app[SESSION].get(
            app[PUBLISHER_URL] + "/health",
            timeout=aiohttp.ClientTimeout(total=app[SETTINGS].health_timeout),
        ) as response:
            publisher = response.status
    except (TimeoutError, aiohttp.ClientError):
        publisher = 0
    ok = publisher == 200
    return web.json_response(
        {"status": "serving" if ok else "publisher-down", "publisher_status": publisher},
        status=200 if ok else 503,
        headers={"Cache-Control": "no-store"},
    )


PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "Via")


async def _flush(request: web.Request) -> web.Response:
    handle = request.headers.get("CQ-Handle")
    dropped = request.app[CACHE].flush(handle or None)
    return web.json_response({"invalidated": dropped, "handle": handle})
