"""The balancer's own routes: status (HTML for people, JSON for programs), metrics, health,
and deregistration of targets (which then drain for the deregistration delay)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(request.app[BALANCER]))
    return web.Response(
        body=generate_latest(registry),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


class _Collector(Collector):
    def __init__(self, balancer: Balancer) -> None:
        self._balancer = balancer

    def collect(self) -> list[Metric]:
        data = snapshot(self._balancer)
        requests = CounterMetricFamily(
            "tokensim_lb_target_requests", "Requests sent to a target", labels=["target"]
        )
        sessions = CounterMetricFamily(
            "tokensim_lb_target_sessions", "Sessions started on a target", labels=["target"]
        )
        healthy = GaugeMetricFamily(
            "tokensim_lb_target_healthy", "1 when the target is healthy", labels=["target"]
        )
        in_flight = GaugeMetricFamily(
            "tokensim_lb_target_in_flight", "Requests in flight", labels=["target"]
        )
        for t in data["targets"]:
            requests.add_metric([t["id"]], t["requests"])
            sessions.add_metric([t["id"]], t["sessions"])
            healthy.add_metric([t["id"]], 1.0 if t["state"] == "healthy" else 0.0)
            in_flight.add_metric([t["id"]], t["in_flight"])
        retries = CounterMetricFamily(
            "tokensim_lb_retries", "Requests retried on another target", value=data["retries"]
        )
        refused = CounterMetricFamily(
            "tokensim_lb_refused_requests",
            "Client requests or connections the edge refused, by status",
            labels=["status"],
        )
        for status, count in data["refused"].items():
            refused.add_metric([status], count)
        control = CounterMetricFamily(
            "tokensim_lb_control_plane_refused",
            "Requests to the control plane refused (foreign Host, cross-site), by reason",
            labels=["reason"],
        )
        for reason, count in data["control_plane_refused"].items():
            control.add_metric([reason], count)
        connections = GaugeMetricFamily(
            "tokensim_lb_client_connections",
            "Client connections open",
            value=data["client_connections"],
        )
        return [requests, sessions, healthy, in_flight, retries, refused, control, connections]


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
