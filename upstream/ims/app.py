"""The simulated IMS application, with Adobe IMS's endpoints (docs/wire-formats.md).

* ``POST /ims/token/v3`` takes form fields (or query parameters) ``grant_type``,
  ``client_id``, ``client_secret``, ``scope`` and answers ``{"access_token", "token_type":
  "bearer", "expires_in"}`` with an RS256 JWT shaped like an IMS access token (``id``, ``type``,
  ``client_id``, ``user_id``, ``as``, ``scope``, ``created_at`` and ``expires_in`` in
  milliseconds; no ``exp``), or an OAuth error JSON (``invalid_client``,
  ``unsupported_grant_type``, ``invalid_scope``, ``invalid_request``).
* ``GET /ims/keys``: the JWKS that verifies those tokens (old keys stay until their tokens
  expire); ``GET /ims/.well-known/openid-configuration``: the discovery document.
* ``POST /ims/revoke`` (RFC 7009): ``token``, ``client_id``, ``client_secret``; 200 whether or
  not the token was valid.

Admin: ``/admin/faults``, ``/admin/stats`` (tokens issued per caller, peak concurrent token
requests), ``POST /admin/revoke`` (every token issued so far stops working),
``POST /admin/rotate-keys`` (a new signing key; tokens signed with the old one still verify).
"""

from __future__ import annotations

import hmac
import random
import secrets as pysecrets
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jwt
from aiohttp import web
from tokensim_token.clock import Clock
from tokensim_token.secrets import Secret

from core.topology import SimulatedImsConfig
from core.topology.simulation import TOKEN_PATH
from upstream.admin import add_admin_routes, caller_of
from upstream.faults import FaultInjector
from upstream.ims.keys import ImsKeys

FIELDS = ("grant_type", "client_id", "client_secret", "scope")


class Issued(NamedTuple):
    """A token IMS issued: when (wall clock), to whom, and when its request had arrived
    (before the injected latency and the queue: what a partition of the caller can stop)."""

    at: float
    caller: str
    asked: float


@dataclass(slots=True)
class ImsStats:
    issued_by_caller: Counter[str] = field(default_factory=Counter)
    requests_by_status: Counter[int] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    revocations: int = 0
    issued_log: deque[Issued] = field(default_factory=lambda: deque(maxlen=10_000))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens_issued": sum(self.issued_by_caller.values()),
            "issued_by_caller": dict(self.issued_by_caller),
            "requests_by_status": {str(k): v for k, v in sorted(self.requests_by_status.items())},
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "revocations": self.revocations,
            "issued_log": [
                {"at": e.at, "asked": e.asked, "caller": e.caller} for e in self.issued_log
            ],
        }


@dataclass(frozen=True, slots=True)
class ImsDeps:
    client_id: str
    accepted_secrets: Sequence[Secret]
    keys: ImsKeys
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
        asked = deps.clock.wall()
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        try:
            reply = await faults.before() or await _issue(
                request, config, deps, faults, stats, asked
            )
        finally:
            stats.in_flight -= 1
        stats.requests_by_status[reply.status] += 1
        return reply

    async def revoke_all(request: web.Request) -> web.Response:
        deps.keys.revoke_all()
        stats.revocations += 1
        return web.json_response({"revoked": True, "signing_key": deps.keys.current.kid})

    async def rotate_keys(request: web.Request) -> web.Response:
        return web.json_response({"signing_key": deps.keys.rotate()})

    async def keys(request: web.Request) -> web.Response:
        return web.json_response(
            deps.keys.jwks(max_lifetime=config.expires_in),
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def openid_configuration(request: web.Request) -> web.Response:
        issuer = str(request.url.origin())
        return web.json_response(
            {
                "issuer": issuer,
                "token_endpoint": f"{issuer}{TOKEN_PATH}",
                "revocation_endpoint": f"{issuer}/ims/revoke",
                "jwks_uri": f"{issuer}/ims/keys",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def revoke_one(request: web.Request) -> web.Response:
        form = await request.post()
        if not _client_ok(str(form.get("client_id", "")), str(form.get("client_secret", "")), deps):
            return oauth_error(401, "invalid_client", "invalid client_id or client_secret")
        token_id = _token_id(str(form.get("token", "")), deps)
        if token_id is not None:
            deps.keys.revocations.revoke(token_id)
            stats.revocations += 1
        return web.Response(status=200, headers={"Cache-Control": "no-store"})

    app.router.add_post(TOKEN_PATH, token)
    app.router.add_get("/ims/keys", keys)
    app.router.add_get("/ims/.well-known/openid-configuration", openid_configuration)
    app.router.add_post("/ims/revoke", revoke_one)
    guard = add_admin_routes(app, faults, stats.as_dict)
    app.router.add_post("/admin/revoke", guard.guard(revoke_all))
    app.router.add_post("/admin/rotate-keys", guard.guard(rotate_keys))
    return app


async def _issue(
    request: web.Request,
    config: SimulatedImsConfig,
    deps: ImsDeps,
    faults: FaultInjector,
    stats: ImsStats,
    asked: float,
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
    stats.issued_log.append(Issued(deps.clock.wall(), caller, asked))
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
    key = deps.keys.current
    now_ms = int(deps.clock.wall() * 1000)
    claims = {
        "id": f"{now_ms}_{pysecrets.token_hex(8)}_ue1",
        "type": "access_token",
        "client_id": deps.client_id,
        "user_id": f"{deps.client_id}@techacct.adobe.com",
        "as": "ims-na1",
        "aa_id": f"{deps.client_id}@techacct.adobe.com",
        "ctp": 0,
        "scope": scope,
        "created_at": str(now_ms),
        "expires_in": str(expires_in * 1000),
    }
    headers = {"kid": key.kid, "x5u": f"{key.kid}.cer"}
    return jwt.encode(claims, key.private, algorithm="RS256", headers=headers)


def _token_id(token: str, deps: ImsDeps) -> str | None:
    """The id of a token this IMS signed (any of its keys), or None."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next(k for k in deps.keys.jwks(max_lifetime=float("inf"))["keys"] if k["kid"] == kid)
        claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"])
    except (jwt.PyJWTError, StopIteration):
        return None
    token_id = claims.get("id")
    return token_id if isinstance(token_id, str) else None
