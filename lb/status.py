"""The balancer's own routes: status (HTML for people, JSON for programs), metrics, health,
and deregistration of targets (which then drain for the deregistration delay)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lb.state import BALANCER, Balancer
from lb.status_page import render


def add_status_routes(app: web.Application) -> None:
    app.router.add_get("/lb/health", health)
    app.router.add_get("/lb/status", status)
    app.router.add_get("/lb/metrics", metrics)
    app.router.add_post("/lb/targets/{id}/deregister", deregister)
    app.router.add_post("/lb/targets/{id}/register", register)


def snapshot(balancer: Balancer) -> dict[str, Any]:
    now = balancer.clock()
    config = balancer.config
    return {
        "algorithm": config.algorithm,
        "sticky": {"enabled": config.sticky.enabled, "cookie": config.sticky.cookie},
        "health_check_rounds": balancer.health_rounds(),
        "requests": balancer.counters.requests,
        "retries": balancer.counters.retries,
        "sessions_moved": balancer.counters.sessions_moved,
        "no_target": balancer.counters.no_target,  # answered 503: every target deregistered
        "client_connections": balancer.counters.connections(),
        "refused": {str(k): v for k, v in sorted(balancer.counters.refused.items())},
        "control_plane_refused": dict(sorted(balancer.counters.control_refused.items())),
        "fail_open": balancer.pool.fail_open,
        "targets": [
            {
                "id": t.id,
                "publisher": t.label,
                "url": t.url,
                "state": t.state(now),
                "in_flight": t.in_flight,
                "requests": t.requests,
                "sessions": t.sessions,
                "errors": t.errors,
                "last_problem": t.last_problem,
            }
            for t in balancer.pool.targets
        ],
    }


async def health(request: web.Request) -> web.Response:
    """200 once health checks have run and found a healthy target."""
    ready = request.app[BALANCER].serving()
    return web.json_response(
        {"status": "serving" if ready else "starting"}, status=200 if ready else 503
    )


async def status(request: web.Request) -> web.Response:
    data = snapshot(request.app[BALANCER])
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(data, headers={"Cache-Control": "no-store"})
    return web.Response(
        text=render(data), content_type="text/html", headers={"Cache-Control": "no-store"}
    )


async def metrics(request: web.Request) -> web.Response:
    from lb import metrics_export  # prometheus_client at the first scrape, not at the start

    return web.Response(
        body=metrics_export.latest(request.app[BALANCER]),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


async def deregister(request: web.Request) -> web.Response:
    balancer = request.app[BALANCER]
    target = balancer.pool.get(request.match_info["id"])
    if target is None:
        raise web.HTTPNotFound(text="no such target\n")
    balancer.pool.deregister(
        target, now=balancer.clock(), delay=balancer.config.deregistration_delay
    )
    return web.json_response({"id": target.id, "state": target.state(balancer.clock())})


async def register(request: web.Request) -> web.Response:
    balancer = request.app[BALANCER]
    target = balancer.pool.get(request.match_info["id"])
    if target is None:
        raise web.HTTPNotFound(text="no such target\n")
    balancer.pool.register(target)
    return web.json_response({"id": target.id, "state": target.state(balancer.clock())})
