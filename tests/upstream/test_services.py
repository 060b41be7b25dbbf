"""The simulated IMS and Analytics speak the real wire formats, fail on command, and count."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from core.topology import LatencyConfig
from tests.support.world import CLIENT_ID, GOOD_SECRET, World, start_world
from upstream.analytics.latency import LatencyModel
from upstream.analytics.traffic import TrafficModel

FORM = {
    "grant_type": "client_credentials",
    "client_id": CLIENT_ID,
    "client_secret": GOOD_SECRET,
    "scope": "openid,AdobeID,read_organizations",
}

REPORT = {
    "rsid": "test.rsid",
    "globalFilters": [
        {"type": "dateRange", "dateRange": "2026-10-01T00:00:00.000/2026-10-31T00:00:00.000"}
    ],
    "metricContainer": {"metrics": [{"columnId": "0", "id": "metrics/visits", "sort": "desc"}]},
    "dimension": "variables/page",
    "settings": {"limit": 10, "page": 0},
}


async def token_call(
    http: aiohttp.ClientSession, world: World, form: dict[str, str], agent: str = "tokensim-node/p1"
) -> tuple[int, Any, Any]:
    async with http.post(
        f"{world.ims_url}/ims/token/v3", data=form, headers={"User-Agent": agent}
    ) as r:
        return r.status, await r.json(content_type=None), r.headers


async def report_call(
    http: aiohttp.ClientSession, world: World, token: str | None, body: Any = REPORT, **headers: str
) -> tuple[int, Any]:
    sent = {"x-api-key": CLIENT_ID, **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with http.post(f"{world.analytics_url}/api/testco/reports", json=body, headers=sent) as r:
        return r.status, await r.json()


async def test_ims_issues_a_signed_jwt_in_the_reference_format(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=86399)
    status, body, headers = await token_call(http, world, FORM)
    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert headers["Cache-Control"] == "no-store"
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["x5u"] == f"{header['kid']}.cer"
    async with http.get(f"{world.ims_url}/ims/keys") as r:
        jwks = await r.json()
    (key,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"])
    assert claims["client_id"] == CLIENT_ID
    assert claims["type"] == "access_token"
    assert claims["as"] == "ims-na1"
    assert claims["scope"] == FORM["scope"]
    assert claims["expires_in"] == "86399000"  # milliseconds, as IMS writes them
    assert abs(int(claims["created_at"]) - world.clock.wall() * 1000) < 5000
    assert "exp" not in claims  # IMS tokens carry created_at + expires_in instead
    assert world.ims_stats.issued_by_caller == {"p1": 1}


async def test_ims_publishes_its_discovery_document(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    async with http.get(f"{world.ims_url}/ims/.well-known/openid-configuration") as r:
        document = await r.json()
    assert document["issuer"] == world.ims_url
    assert document["token_endpoint"] == f"{world.ims_url}/ims/token/v3"
    assert document["revocation_endpoint"] == f"{world.ims_url}/ims/revoke"
    assert document["jwks_uri"] == f"{world.ims_url}/ims/keys"
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


@pytest.mark.looptime
async def test_old_tokens_verify_after_a_key_rotation_until_they_expire(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=3600)
    _, old, _ = await token_call(http, world, FORM)
    async with http.post(f"{world.ims_url}/admin/rotate-keys") as r:
        assert r.status == 200
    _, new, _ = await token_call(http, world, FORM)
    kids = {jwt.get_unverified_header(t["access_token"])["kid"] for t in (old, new)}
    assert len(kids) == 2  # signed with different keys
    assert (await report_call(http, world, old["access_token"]))[0] == 200
    assert (await report_call(http, world, new["access_token"]))[0] == 200
    await asyncio.sleep(3601)  # virtual time: the old token has expired...
    async with http.get(f"{world.ims_url}/ims/keys") as r:
        published = {k["kid"] for k in (await r.json())["keys"]}
    old_kid, new_kid = (jwt.get_unverified_header(t["access_token"])["kid"] for t in (old, new))
    assert new_kid in published
    assert old_kid not in published  # ...and so has its key
    assert len(published) == 2  # the key in use, and the next one, published before it signs
    assert (await report_call(http, world, old["access_token"]))[0] == 401


async def test_a_revoked_token_is_refused_and_revoke_answers_200_whatever_it_is_given(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    _, first, _ = await token_call(http, world, FORM)
    _, second, _ = await token_call(http, world, FORM)
    revoke = {"token": first["access_token"], "client_id": CLIENT_ID, "client_secret": GOOD_SECRET}
    async with http.post(f"{world.ims_url}/ims/revoke", data=revoke) as r:
        assert r.status == 200
    async with http.post(f"{world.ims_url}/ims/revoke", data={**revoke, "token": "junk"}) as r:
        assert r.status == 200  # RFC 7009: an invalid token is no error
    async with http.post(
        f"{world.ims_url}/ims/revoke", data={**revoke, "client_secret": "no"}
    ) as r:
        assert r.status == 401
    assert (await report_call(http, world, first["access_token"]))[0] == 401
    assert (await report_call(http, world, second["access_token"]))[0] == 200


@pytest.mark.looptime
async def test_analytics_allows_12_requests_per_6_seconds_per_client(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    _, one, _ = await token_call(http, world, FORM)
    _, two, _ = await token_call(http, world, FORM)
    tokens = [one["access_token"], two["access_token"]]
    statuses = [(await report_call(http, world, tokens[i % 2]))[0] for i in range(14)]
    assert statuses == [200] * 12 + [429] * 2  # both tokens of one client share the budget
    status, body = await report_call(http, world, tokens[0])
    assert (status, body) == (429, {"error_code": "429050", "message": "Too many requests"})
    await asyncio.sleep(6.01)  # virtual time: the window has moved on
    assert (await report_call(http, world, tokens[0]))[0] == 200
    stats = world.analytics_stats.as_dict()
    assert sum(stats["throttled_by_caller"].values()) == 3
    async with http.post(
        f"{world.analytics_url}/api/testco/reports",
        json=REPORT,
        headers={"x-api-key": CLIENT_ID, "Authorization": f"Bearer {tokens[0]}"},
    ) as r:
        assert "Retry-After" not in r.headers  # Adobe documents none: the 429 is the signal


async def test_ims_accepts_parameters_in_the_query_string(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    async with http.post(f"{world.ims_url}/ims/token/v3", params=FORM) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"scope": "openid,admin_everything"}, 400, "invalid_scope"),
        ({"scope": ""}, 400, "invalid_request"),
    ],
)
async def test_ims_error_replies(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    change: dict[str, str],
    status: int,
    error: str,
) -> None:
    world = await start_world(stack, tmp_path)
    code, body, _ = await token_call(http, world, {**FORM, **change})
    assert code == status
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert world.tokens_issued == 0


async def test_ims_faults_and_counters(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    async with http.put(f"{world.ims_url}/admin/faults", json={"outage": True}) as r:
        assert r.status == 200
    assert (await token_call(http, world, FORM))[0] == 503
    async with http.put(
        f"{world.ims_url}/admin/faults",
        json={"outage": False, "throttle_rate": 1, "retry_after": 7},
    ) as r:
        assert (await r.json())["throttle_rate"] == 1
    status, _, headers = await token_call(http, world, FORM)
    assert status == 429
    assert headers["Retry-After"] == "7"
    async with http.put(f"{world.ims_url}/admin/faults", json={"error_rate": 2}) as r:
        assert r.status == 400
        assert "error_rate" in (await r.json())["error"]
    async with http.put(
        f"{world.ims_url}/admin/faults", json={"throttle_rate": 0, "latency": "200ms"}
    ) as r:
        assert r.status == 200
    await asyncio.gather(
        *(token_call(http, world, FORM, f"tokensim-node/p{i % 3 + 1}") for i in range(9))
    )
    async with http.get(f"{world.ims_url}/admin/stats") as r:
        stats = await r.json()
    assert stats["issued_by_caller"] == {"p1": 3, "p2": 3, "p3": 3}
    assert stats["peak_in_flight"] == 9
    assert stats["requests_by_status"] == {"200": 9, "429": 1, "503": 1}


async def test_analytics_report_in_the_reference_format(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    _, token, _ = await token_call(http, world, FORM)
    status, report = await report_call(http, world, token["access_token"])
    assert status == 200
    assert report["totalElements"] == 300
    assert report["numberOfElements"] == 10
    assert report["firstPage"] is True
    assert report["columns"]["dimension"] == {"id": "variables/page", "type": "string"}
    visits = [row["data"][0] for row in report["rows"]]
    assert visits == sorted(visits, reverse=True)
    assert all(isinstance(v, float) for v in visits)
    assert all(row["value"].startswith("/content/") for row in report["rows"])
    page2 = await report_call(
        http, world, token["access_token"], {**REPORT, "settings": {"limit": 10, "page": 1}}
    )
    assert page2[1]["rows"][0]["data"][0] <= visits[-1]


def test_a_ranking_over_full_days_changes_once_a_day_and_deterministically() -> None:
    model = TrafficModel(pages=300, daily_visits=50_000, drift_period=30 * 86_400, seed=1)
    again = TrafficModel(pages=300, daily_visits=50_000, drift_period=30 * 86_400, seed=1)
    start, end = dt.datetime(2026, 10, 1), dt.datetime(2026, 10, 31)
    today = model.ranked("r", start, end)
    assert today == again.ranked("r", start, end)  # the same range: the same report
    week = dt.timedelta(days=7)
    later = model.ranked("r", start + week, end + week)  # the range a week on
    assert [r.page for r in today[:20]] != [r.page for r in later[:20]]


@pytest.mark.parametrize(
    ("token", "headers", "body", "status", "code"),
    [
        (None, {}, REPORT, 401, "401013"),
        ("not-a-jwt", {}, REPORT, 401, "401013"),
        ("GOOD", {"x-api-key": ""}, REPORT, 403, "403000"),
        ("GOOD", {"x-api-key": "another-client"}, REPORT, 403, "403026"),
        ("GOOD", {}, {"rsid": "r"}, 400, "invalid_request"),
        ("GOOD", {}, {**REPORT, "dimension": "variables/evar1"}, 400, "invalid_request"),
        ("GOOD", {}, {**REPORT, "globalFilters": []}, 400, "invalid_request"),
    ],
)
async def test_analytics_errors_use_the_gateways_or_analytics_envelope(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    token: str | None,
    headers: dict[str, str],
    body: Any,
    status: int,
    code: str,
) -> None:
    world = await start_world(stack, tmp_path)
    if token == "GOOD":
        token = (await token_call(http, world, FORM))[1]["access_token"]
    got, reply = await report_call(http, world, token, body, **headers)
    assert got == status
    if code in ("401013", "403000"):  # Adobe's API gateway answers these itself
        assert reply == {"error_code": code, "message": GATEWAY_MESSAGES[code]}
    else:  # Analytics behind it
        assert reply["errorCode"] == code
        assert set(reply) == {"errorCode", "errorDescription", "errorId"}


GATEWAY_MESSAGES = {"401013": "Oauth token is not valid", "403000": "Api Key is required"}


async def test_a_report_takes_the_latency_models_time_and_the_gateway_cuts_it_at_its_timeout(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # Real time, scaled down: a median of 0.2 s and a gateway that gives up at 0.5 s.
    slow = LatencyConfig(median=0.2, p99=0.4, per_concurrent=0.0, gateway_timeout=0.5)
    world = await start_world(stack, tmp_path, latency=slow)
    token = (await token_call(http, world, FORM))[1]["access_token"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await report_call(http, world, token))[0] == 200
    assert loop.time() - started >= 0.05  # it took its time (a log-normal draw: never ~0)
    cut = LatencyConfig(median=2.0, p99=4.0, gateway_timeout=0.3)
    world = await start_world(stack, tmp_path / "cut", latency=cut)
    token = (await token_call(http, world, FORM))[1]["access_token"]
    status, reply = await report_call(http, world, token)
    assert (status, reply) == (504, {"error_code": "504", "message": "Gateway Timeout"})
    assert world.analytics_stats.by_outcome["gateway_timeout"] == 1


def test_the_latency_model_has_its_median_and_tail_and_slows_with_load() -> None:
    model = LatencyModel(LatencyConfig(), random.Random(3))
    alone = sorted(model.draw(0) for _ in range(20_000))
    assert 0.9 < alone[10_000] < 1.1  # the median, about 1 s
    assert 5.0 < alone[19_800] < 7.0  # the 99th percentile, about 6 s
    busy = sorted(model.draw(4) for _ in range(20_000))  # four others in flight: 3x slower
    assert 2.7 < busy[10_000] < 3.3


@pytest.mark.looptime
async def test_analytics_rejects_expired_and_revoked_tokens(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path, expires_in=600)
    first = (await token_call(http, world, FORM))[1]["access_token"]
    assert (await report_call(http, world, first))[0] == 200
    await asyncio.sleep(601)
    assert (await report_call(http, world, first))[0] == 401
    second = (await token_call(http, world, FORM))[1]["access_token"]
    async with http.post(f"{world.ims_url}/admin/revoke") as r:
        assert r.status == 200
    assert (await report_call(http, world, second))[0] == 401
    third = (await token_call(http, world, FORM))[1]["access_token"]
    assert (await report_call(http, world, third))[0] == 200
    assert world.analytics_stats.by_outcome == {"ok": 2, "unauthorized": 2}
