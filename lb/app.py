"""The load balancer application: ``create_app(topology, cookie_key, clock=...)``.

Modelled on ALB duration-based stickiness (edge-defaults.md): a new session goes to a healthy
target in turn (or the least outstanding one), gets an opaque authenticated cookie, and keeps
that target while it is healthy; the cookie's expiry is renewed on every reply. Unlike ALB, a
GET or HEAD that cannot be served (connection failure, or a dispatcher reporting its publisher
unreachable) is retried once on another target, as HAProxy's ``redispatch`` does; other methods
never are. ``/lb/status`` (HTML, or JSON with ``Accept: application/json``), ``/lb/metrics``,
``/lb/health`` and ``POST /lb/targets/{id}/deregister|register`` are the balancer's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from core.topology import Topology
from lb.cookies import StickyCookieCodec
from lb.dispatcher.app import ERROR_HEADER
from lb.forwarding import IDEMPOTENT, forwardable, with_forwarded_for
from lb.health import HealthChecker
from lb.state import BALANCER, Balancer
from lb.status import add_status_routes
from lb.targets import Target, TargetPool, backends_of

RETRYABLE_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class Forwarded:
    status: int
    headers: CIMultiDict[str]
    body: bytes


def create_app(
    topology: Topology, cookie_key: bytes, *, clock: Callable[[], float] = time.time
) -> web.Application:
    config = topology.lb
    if config is None:
        raise ValueError("the topology has no lb section")
    app = web.Application()
    app[BALANCER] = Balancer(
        config=config,
        pool=TargetPool(
            [Target(b.id, b.url, b.label) for b in backends_of(topology)],
            checks=config.health_check,
            algorithm=config.algorithm,
        ),
        codec=StickyCookieCodec(cookie_key, cookie_name=config.sticky.cookie),
        clock=clock,
    )
    app.cleanup_ctx.append(_session_and_checks)
    add_status_routes(app)
    app.router.add_route("*", "/{tail:.*}", balance)
    return app


async def _session_and_checks(app: web.Application) -> AsyncIterator[None]:
    balancer = app[BALANCER]
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        balancer.session = session
        checker = HealthChecker(balancer.pool, balancer.config.health_check, session)
        balancer.health_rounds = lambda: checker.rounds
        task = asyncio.create_task(checker.run(), name="health-checks")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def balance(request: web.Request) -> web.StreamResponse:
    balancer = request.app[BALANCER]
    config, pool, counters = balancer.config, balancer.pool, balancer.counters
    counters.requests += 1
    target, new_session = _route(request, balancer)
    if target is None:
        counters.no_target += 1
        return web.Response(status=503, text="503 no target available\n")
    body = await request.read() if request.body_exists else None
    retries = 1 if config.retry_idempotent and request.method in IDEMPOTENT else 0
    tried = {target.id}
    while True:
        reply, problem = await _send(request, balancer, target, body)
        if problem is None:
            break
        pool.mark_down(target, problem)
        alternative = pool.choose(exclude=frozenset(tried)) if retries else None
        if alternative is None:
            break
        retries -= 1
        counters.retries += 1
        target, new_session = alternative, True
        tried.add(target.id)
    if reply is None:
        return web.Response(status=502, text="502 no target could serve the request\n")
    response = web.Response(status=reply.status, headers=reply.headers, body=reply.body)
    if config.sticky.enabled:
        if new_session:
            target.sessions += 1
        _set_cookie(response, balancer, target)
    return response


def _route(request: web.Request, balancer: Balancer) -> tuple[Target | None, bool]:
    """The session's target if its cookie is valid and the target usable; else a new one."""
    pool, sticky = balancer.pool, balancer.config.sticky
    if sticky.enabled and (value := cookie_value(request.headers.get("Cookie"), sticky.cookie)):
        current = pool.get(balancer.codec.decode(value, now=balancer.clock()))
        if current is not None and pool.usable(current):
            return current, False
        if current is not None:
            balancer.counters.sessions_moved += 1
    return pool.choose(), True


async def _send(
    request: web.Request, balancer: Balancer, target: Target, body: bytes | None
) -> tuple[Forwarded | None, str | None]:
    """Forward to ``target``; the reply, and a problem if another target should be tried."""
    sticky = balancer.config.sticky
    drop = (sticky.cookie,) if sticky.enabled else ()
    headers = with_forwarded_for(forwardable(request.headers, drop), request.remote)
    headers["X-Forwarded-Proto"] = request.scheme
    target.in_flight += 1
    target.requests += 1
    try:
        async with balancer.http.request(
            request.method,
            target.url + request.raw_path,
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=balancer.config.timeout),
        ) as response:
            reply = Forwarded(response.status, forwardable(response.headers), await response.read())
    except aiohttp.ClientConnectionError as exc:
        target.errors += 1
        return None, f"connection failed ({type(exc).__name__})"
    except TimeoutError:
        target.errors += 1
        return Forwarded(504, CIMultiDict(), b"504 target timed out\n"), None
    finally:
        target.in_flight -= 1
    if reply.status in RETRYABLE_STATUSES and ERROR_HEADER in reply.headers:
        target.errors += 1
        return reply, f"{reply.headers[ERROR_HEADER]} ({reply.status})"
    return reply, None


def _set_cookie(response: web.Response, balancer: Balancer, target: Target) -> None:
    """Renew the session cookie (ALB renews its expiry on every reply)."""
    value = balancer.codec.encode(
        target.id, expires_at=balancer.clock() + balancer.config.sticky.duration
    )
    response.headers.add("Set-Cookie", balancer.cookie_prefix + value + balancer.cookie_suffix)


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie header, without a full cookie parse."""
    if not header or name not in header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None
