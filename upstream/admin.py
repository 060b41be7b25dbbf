"""The admin plane of a simulated service: ``/admin/faults``, ``/admin/stats``, ``/health``.

Simulation only; it listens on 127.0.0.1 with the service. Not part of the real wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from tokensim_token.jsonsafe import parse_json_object

from core.control_plane import ControlPlaneGuard
from upstream.faults import FaultInjector


def add_admin_routes(
    app: web.Application, faults: FaultInjector, stats: Callable[[], dict[str, Any]]
) -> ControlPlaneGuard:
    """Add the admin routes, guarded as a control plane (:mod:`core.control_plane`); return
    the guard, for the service's own admin routes."""
    guard = ControlPlaneGuard()

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(faults.config.model_dump())

    async def put_faults(request: web.Request) -> web.Response:
        try:
            changes = parse_json_object(await request.read(), max_bytes=64 * 1024)
            config = faults.update(changes)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(config.model_dump())

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats())

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "serving"})

    app.router.add_get("/admin/faults", guard.guard(get_faults))
    app.router.add_put("/admin/faults", guard.guard(put_faults))
    app.router.add_patch("/admin/faults", guard.guard(put_faults))
    app.router.add_get("/admin/stats", guard.guard(get_stats))
    app.router.add_get("/health", health)
    return guard


def caller_of(request: web.Request) -> str:
    """Who is calling: ``p1`` for ``User-Agent: tokensim-node/p1``, else the agent itself."""
    agent = request.headers.get("User-Agent", "")
    product = agent.split(" ", 1)[0]
    if product.startswith("tokensim-") and "/" in product:
        return product.split("/", 1)[1][:32] or "unknown"
    return agent[:64] or "unknown"
