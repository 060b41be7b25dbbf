"""The simulated Analytics 2.0 Reports API.

``POST /api/{globalCompanyId}/reports`` with ``Authorization: Bearer <IMS token>`` and
``x-api-key: <client id>``. Adobe's API gateway answers first, with its envelope
``{"error_code", "message"}``: 403 ``403000`` "Api Key is required" without an API key, 429
``429050`` "Too many requests" over the rate limit (12 requests per 6 s per client, no
Retry-After), 401 ``401013`` "Oauth token is not valid" for a missing, invalid, expired or
revoked token (verified against IMS's JWKS, as a resource server does:
:mod:`upstream.analytics.verify`), and 504 when the report takes longer than its 60 s. Behind
it Analytics answers 403 for an API key that is not the token's or a company it may not read
and 400 for a bad request body, in its own envelope ``{"errorCode", "errorDescription",
"errorId"}``; otherwise, after the latency of :mod:`upstream.analytics.latency`, a ranked
report of pages.

Admin: ``/admin/faults`` and ``/admin/stats`` (requests by outcome and by caller, 429s and
401s by caller).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from tokensim_token.clock import Clock
from tokensim_token.jsonsafe import parse_json_object

from core.topology import SimulatedAnalyticsConfig
from upstream.admin import add_admin_routes, caller_of
from upstream.analytics.latency import LatencyModel
from upstream.analytics.rate_limit import RateLimiter
from upstream.analytics.traffic import PageRow, TrafficModel
from upstream.analytics.verify import TokenVerifier
from upstream.errors import ReportRequestError
from upstream.faults import FaultInjector

MAX_LIMIT = 50_000


@dataclass(slots=True)
class AnalyticsStats:
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_caller: Counter[str] = field(default_factory=Counter)
    unauthorized_by_caller: Counter[str] = field(default_factory=Counter)
    throttled_by_caller: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_outcome.values()),
            "by_outcome": dict(self.by_outcome),
            "by_caller": dict(self.by_caller),
            "unauthorized_by_caller": dict(self.unauthorized_by_caller),
            "throttled_by_caller": dict(self.throttled_by_caller),
        }


@dataclass(frozen=True, slots=True)
class AnalyticsDeps:
    company_id: str
    client_id: str
    verifier: TokenVerifier
    clock: Clock
    rng: random.Random
    traffic: TrafficModel


STATS = web.AppKey("analytics_stats", AnalyticsStats)
FAULTS = web.AppKey("analytics_faults", FaultInjector)
SESSION = web.AppKey("jwks_session", aiohttp.ClientSession)
THROTTLED = {"error_code": "429050", "message": "Too many requests"}  # Adobe's, verbatim
NO_API_KEY = {"error_code": "403000", "message": "Api Key is required"}
BAD_TOKEN = {"error_code": "401013", "message": "Oauth token is not valid"}
# The gateway's 504 body is not documented: its envelope, with the status as the code.
GATEWAY_TIMEOUT = {"error_code": "504", "message": "Gateway Timeout"}


def adobe_error(status: int, code: str, description: str) -> web.Response:
    return web.json_response(
        {"errorCode": code, "errorDescription": description, "errorId": str(uuid.uuid4())},
        status=status,
    )


def create_app(config: SimulatedAnalyticsConfig, deps: AnalyticsDeps) -> web.Application:
    app = web.Application()
    stats = AnalyticsStats()
    faults = FaultInjector(config.faults, rng=deps.rng, error_reply=adobe_error)
    app[STATS] = stats
    app[FAULTS] = faults
    limiter = RateLimiter(config.rate_limit, clock=deps.clock.monotonic)
    scope = config.rate_limit.scope
    latency = LatencyModel(config.latency, deps.rng)

    async def reports(request: web.Request) -> web.Response:
        caller = caller_of(request)
        stats.by_caller[caller] += 1
        outcome, reply = await _answer(request, deps, faults, limiter, scope, latency)
        stats.by_outcome[outcome] += 1
        if outcome == "unauthorized":
            stats.unauthorized_by_caller[caller] += 1
        if outcome == "throttled":
            stats.throttled_by_caller[caller] += 1
        return reply

    app.cleanup_ctx.append(_jwks_session)
    app.router.add_post("/api/{company}/reports", reports)
    add_admin_routes(app, faults, stats.as_dict)
    return app


async def _jwks_session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[SESSION] = session
        yield


async def _answer(
    request: web.Request,
    deps: AnalyticsDeps,
    faults: FaultInjector,
    limiter: RateLimiter,
    scope: str,
    latency: LatencyModel,
) -> tuple[str, web.Response]:
    fault = await faults.before()
    if fault is not None:
        return f"fault_{fault.status}", fault
    api_key = request.headers.get("x-api-key")
    if not api_key:
        return "forbidden", web.json_response(NO_API_KEY, status=403)
    bearer = _bearer(request)
    if not limiter.allow(api_key if scope == "client" else bearer or api_key):
        return "throttled", web.json_response(THROTTLED, status=429)
    claims = await deps.verifier.claims(bearer, request.app[SESSION]) if bearer else None
    if claims is None:
        return "unauthorized", web.json_response(BAD_TOKEN, status=401)
    if api_key != claims.get("client_id"):
        return "forbidden", adobe_error(403, "403026", "Api Key is invalid for this token")
    if request.match_info["company"] != deps.company_id:
        return "forbidden", adobe_error(403, "403003", "User does not have access to company")
    try:
        query = _parse_request(await request.read())
    except ReportRequestError as exc:
        return "bad_request", adobe_error(400, "invalid_request", str(exc))
    if not await _takes_its_time(latency, query.rsid):
        return "gateway_timeout", web.json_response(GATEWAY_TIMEOUT, status=504)
    if faults.malformed():
        return "malformed", web.json_response({"rows": "unavailable"})
    rows = deps.traffic.ranked(query.rsid, query.start, query.end)
    return "ok", web.json_response(_report(rows, query))


async def _takes_its_time(latency: LatencyModel, rsid: str) -> bool:
    """Wait as long as the report takes; False when the gateway cut it off first."""
    seconds = latency.draw_for(rsid)
    timed_out = latency.times_out(seconds)
    latency.started(rsid)
    try:
        await asyncio.sleep(latency.config.gateway_timeout if timed_out else seconds)
    finally:
        latency.ended(rsid)
    return not timed_out


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True, slots=True)
class ReportQuery:
    rsid: str
    start: dt.datetime
    end: dt.datetime
    limit: int
    page: int


def _parse_request(raw: bytes) -> ReportQuery:
    try:
        body = parse_json_object(raw, max_bytes=64 * 1024)
        rsid = body["rsid"]
        dimension = body["dimension"]
        metrics = body["metricContainer"]["metrics"]
        settings = body.get("settings", {})
    except (ValueError, KeyError, TypeError):
        raise ReportRequestError(
            "body must be a report request (rsid, dimension, metrics)"
        ) from None
    if not isinstance(rsid, str) or not rsid:
        raise ReportRequestError("rsid is required")
    if dimension != "variables/page":
        raise ReportRequestError(f"unsupported dimension {str(dimension)[:40]!r}")
    if not metrics or metrics[0].get("id") != "metrics/visits":
        raise ReportRequestError("the first metric must be metrics/visits")
    limit, page = settings.get("limit", 50), settings.get("page", 0)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ReportRequestError(f"settings.limit must be 1..{MAX_LIMIT}")
    if not isinstance(page, int) or page < 0:
        raise ReportRequestError("settings.page must be a non-negative integer")
    start, end = _date_range(body.get("globalFilters", []))
    return ReportQuery(rsid=rsid, start=start, end=end, limit=limit, page=page)


def _date_range(filters: object) -> tuple[dt.datetime, dt.datetime]:
    ranges = [
        f.get("dateRange")
        for f in (filters if isinstance(filters, list) else [])
        if isinstance(f, dict) and f.get("type") == "dateRange"
    ]
    if not ranges or not isinstance(ranges[0], str) or "/" not in ranges[0]:
        raise ReportRequestError("a dateRange global filter 'start/end' is required")
    first, _, last = ranges[0].partition("/")
    try:
        start, end = dt.datetime.fromisoformat(first), dt.datetime.fromisoformat(last)
    except ValueError:
        raise ReportRequestError("dateRange must be two ISO 8601 timestamps") from None
    if end <= start:
        raise ReportRequestError("dateRange must end after it starts")
    return start, end


def _report(rows: list[PageRow], query: ReportQuery) -> dict[str, Any]:
    total = len(rows)
    pages = max(1, -(-total // query.limit))
    chunk = rows[query.page * query.limit : (query.page + 1) * query.limit]
    return {
        "totalPages": pages,
        "firstPage": query.page == 0,
        "lastPage": query.page >= pages - 1,
        "number": query.page,
        "numberOfElements": len(chunk),
        "totalElements": total,
        "columns": {
            "dimension": {"id": "variables/page", "type": "string"},
            "columnIds": ["0"],
        },
        "rows": [{"itemId": r.item_id, "value": r.page, "data": [r.visits]} for r in chunk],
        "summaryData": {"filteredTotals": [sum(r.visits for r in rows)]},
    }
