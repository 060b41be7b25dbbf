"""The simulated IMS application.

``POST /ims/token/v3`` takes form fields (or query parameters) ``grant_type``, ``client_id``,
``client_secret``, ``scope`` and answers ``{"access_token", "token_type": "bearer",
"expires_in"}`` with a signed JWT, or an OAuth error JSON (``invalid_client``,
``unsupported_grant_type``, ``invalid_scope``, ``invalid_request``).

Admin: ``/admin/faults``, ``/admin/stats`` (tokens issued per caller, peak concurrent token
requests), ``POST /admin/revoke`` (every token issued so far stops working).
"""

from __future__ import annotations

import hmac
import math
import random
import secrets as pysecrets
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from core.clock import Clock
from core.secrets import Secret
from core.topology import SimulatedImsConfig
from upstream import jwt
from upstream.admin import add_admin_routes, caller_of
from upstream.faults import FaultInjector
from upstream.signing import SigningKeys

FIELDS = ("grant_type", "client_id", "client_secret", "scope")


@dataclass(slots=True)
class ImsStats:
    issued_by_caller: Counter[str] = field(default_factory=Counter)
    requests_by_status: Counter[int] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    revocations: int = 0
    issued_log: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=10_000))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens_issued": sum(self.issued_by_caller.values()),
            "issued_by_caller": dict(self.issued_by_caller),
            "requests_by_status": {str(k): v for k, v in sorted(self.requests_by_status.items())},
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "revocations": self.revocations,
            "issued_log": [{"at": at, "caller": who} for at, who in self.issued_log],
        }


@dataclass(frozen=True, slots=True)
class ImsDeps:
    client_id: str
    accepted_secrets: Sequence[Secret]
    keys: SigningKeys
    clock: Clock
    rng: random.Random


STATS = web.AppKey("ims_stats", ImsStats)
FAULTS = web.AppKey("ims_faults", FaultInjector)


def oauth_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response(
        {"error": code, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def create_app(config: SimulatedImsConfig, deps: ImsDeps) -> web.Application:
    app = web.Application()
    stats = ImsStats()
    faults = FaultInjector(config.faults, rng=deps.rng, error_reply=oauth_error)
    app[STATS] = stats
    app[FAULTS] = faults

    async def token(request: web.Request) -> web.Response:
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            reply = await faults.before() or await _issue(request, config, deps, faults, stats)
        finally:
            stats.in_flight -= 1
        stats.requests_by_status[reply.status] += 1
        return reply

    async def revoke(request: web.Request) -> web.Response:
        kid = deps.keys.rotate()
        stats.revocations += 1
        return web.json_response({"revoked": True, "signing_key": kid})

    app.router.add_post("/ims/token/v3", token)
    app.router.add_post("/admin/revoke", revoke)
    add_admin_routes(app, faults, stats.as_dict)
    return app


async def _issue(
    request: web.Request,
    config: SimulatedImsConfig,
    deps: ImsDeps,
    faults: FaultInjector,
    stats: ImsStats,
) -> web.Response:
    form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
    if request.body_exists and request.content_type not in form_types:
        return oauth_error(400, "invalid_request", "use application/x-www-form-urlencoded")
    form = {**request.query, **(await request.post())}
    missing = [name for name in FIELDS if not str(form.get(name, "")).strip()]
    if missing:
        return oauth_error(400, "invalid_request", f"missing parameter: {missing[0]}")
    if form["grant_type"] != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if not _client_ok(str(form["client_id"]), str(form["client_secret"]), deps):
        return oauth_error(401, "invalid_client", "invalid client_id or client_secret")
    scopes = [s.strip() for s in str(form["scope"]).split(",") if s.strip()]
    unknown = [s for s in scopes if s not in config.scopes]
    if unknown:
        return oauth_error(400, "invalid_scope", f"invalid scope: {unknown[0]}")
    if faults.malformed():
        return web.Response(text="<html><body>Bad gateway</body></html>", content_type="text/html")
    access_token = _sign(deps, config.expires_in, ",".join(scopes))
    caller = caller_of(request)
    stats.issued_by_caller[caller] += 1
    stats.issued_log.append((deps.clock.wall(), caller))
    return web.json_response(
        {"access_token": access_token, "token_type": "bearer", "expires_in": config.expires_in},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _client_ok(client_id: str, client_secret: str, deps: ImsDeps) -> bool:
    if not hmac.compare_digest(client_id.encode(), deps.client_id.encode()):
        return False
    return any(
        hmac.compare_digest(client_secret.encode(), s.reveal().encode())
        for s in deps.accepted_secrets
    )


def _sign(deps: ImsDeps, expires_in: int, scope: str) -> str:
    kid, key = deps.keys.current()
    now = deps.clock.wall()
    claims = {
        "id": pysecrets.token_hex(12),
        "type": "access_token",
        "client_id": deps.client_id,
        "user_id": f"{deps.client_id}@techacct.adobe.com",
        "as": "ims-na1",
        "scope": scope,
        "iat": int(now),
        "exp": math.ceil(now + expires_in),
        "created_at": str(int(now * 1000)),
        "expires_in": str(expires_in * 1000),
    }
    return jwt.encode(claims, key=key, kid=kid)
