"""The node's operations routes: ``/health`` for the balancer and the dispatcher, ``/status``
and ``/metrics`` for operators (control plane: :mod:`core.control_plane` guards them)."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from tokensim_token import TokenState

from core.service import lifecycle_of
from node.appkeys import METRICS, NODE_ID, REPORTS, TOKENS


async def health(request: web.Request) -> web.Response:
    """200 while serving; 503 while starting (no token yet, none ever obtained, and no report
    yet) or draining. A token that has expired since (AEM's provider lets it) is not a start."""
    app = request.app
    tokens = app[TOKENS]
    if lifecycle_of(app).draining:
        state = "draining"
    elif (
        not app[REPORTS].has_report
        and tokens.state() is TokenState.INVALID
        and tokens.status().refresh_count == 0
    ):
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
