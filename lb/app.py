"""The balancer's own application: status, metrics, health, deregistration, health checks.

``create_balancer(topology, cookie_key)`` builds the state both halves share;
``create_admin_app(balancer)`` is the aiohttp application behind the ``/lb/`` paths (served on
a private loopback port, reached through the data path in :mod:`lb.proxy`), and it runs the
active health checks for as long as it is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from core.control_plane import ControlPlaneGuard
from core.topology import Topology
from lb.cookies import StickyCookieCodec
from lb.health import HealthChecker
from lb.state import BALANCER, Balancer
from lb.status import add_status_routes
from lb.targets import Target, TargetPool, backends_of


def create_balancer(
    topology: Topology, cookie_key: bytes, *, clock: Callable[[], float] = time.time
) -> Balancer:
    config = topology.lb
    if config is None:
        raise ValueError("the topology has no lb section")
    return Balancer(
        config=config,
        pool=TargetPool(
            [Target(b.id, b.url, b.label) for b in backends_of(topology)],
            checks=config.health_check,
            algorithm=config.algorithm,
        ),
        codec=StickyCookieCodec(cookie_key, cookie_name=config.sticky.cookie),
        clock=clock,
    )


def create_admin_app(balancer: Balancer) -> web.Application:
    guard = ControlPlaneGuard(
        [balancer.config.admin.host], refused=balancer.counters.control_refused
    )
    app = web.Application(middlewares=[guard.middleware])
    app[BALANCER] = balancer
    app.cleanup_ctx.append(_health_checks)
    add_status_routes(app)
    return app


async def _health_checks(app: web.Application) -> AsyncIterator[None]:
    balancer = app[BALANCER]
    async with aiohttp.ClientSession() as session:
        checker = HealthChecker(balancer.pool, balancer.config.health_check, session)
        balancer.health_rounds = lambda: checker.rounds
        task = asyncio.create_task(checker.run(), name="health-checks")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
