"""The node's HTTP surface: pages in order, health, status, metrics, and never the token."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from core.service import lifecycle_of
from node.analytics_client import PageVisits
from node.render import RenderedReports
from node.report_policy import FAILURE_CAP
from node.reports import TopPages
from tests.support.world import get_json, start_world
from upstream.analytics.app import FAULTS

ROUTES = ["/", "/api/top-pages", "/static/site.css", "/health", "/status", "/metrics", "/nope"]


async def fetch_all(http: aiohttp.ClientSession, base: str) -> list[tuple[str, int, str, str]]:
    """(route, status, headers as text, body) for every route of the node."""
    out = []
    for route in ROUTES:
        async with http.get(f"{base}{route}") as r:
            headers = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
            out.append((route, r.status, headers, await r.text()))
    return out


@pytest.mark.looptime
async def test_no_response_ever_contains_a_token_and_all_carry_x_publisher(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    world = await start_world(stack, tmp_path, expires_in=600)
    node = await world.start_node(world.topology(analytics={"report_refresh": 0}))
    tokens: set[str] = set()
    for _ in range(8):  # across several token lifetimes, with a revocation in the middle
        for route, status, headers, body in await fetch_all(http, node.url):
            assert "X-Publisher: p1" in headers, route
            assert status == (404 if route == "/nope" else 200), route
            tokens.add((await node.tokens.get()).value.reveal())
            for token in tokens:
                assert token not in headers + body
                assert token.split(".")[2] not in body  # not even the signature
        async with http.post(f"{world.ims_url}/admin/revoke"):
            pass
        await asyncio.sleep(250)
    assert len(tokens) >= 8
    for token in tokens:
        assert token not in caplog.text
        assert all(token not in str(r.args) for r in caplog.records)


async def test_home_page_and_api_list_pages_in_descending_order(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology(analytics={"top": 7}))
    status, body = await get_json(http, f"{node.url}/api/top-pages")
    assert status == 200
    assert body["node"] == "p1"
    assert body["stale"] is False
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", body["fetched_at"])
    visits = [p["visits"] for p in body["pages"]]
    assert len(visits) == 7
    assert visits == sorted(visits, reverse=True)
    # The widget's URL: the same report, with how long the caches in front may keep it (until
    # the next refresh: report_refresh is 30 min here).
    async with http.get(f"{node.url}/content/site/en/top-pages.json") as r:
        assert r.status == 200
        assert (await r.json())["pages"] == body["pages"]
        seconds = int(r.headers["Cache-Control"].removeprefix("max-age="))
        assert 0 < seconds <= 1800 * 1.1
    async with http.get(f"{node.url}/api/top-pages") as r:
        assert r.headers["Cache-Control"] == "no-store"  # the API: never kept downstream
    for home in ("/", "/content/site/en.html"):  # the page itself: no report in it
        async with http.get(f"{node.url}{home}") as r:
            html = await r.text()
            assert r.content_type == "text/html"
            assert "Cache-Control" not in r.headers  # as AEM pages: kept until a flush
        assert 'data-src="/content/site/en/top-pages.json"' in html
        assert not any(p["page"] in html for p in body["pages"])


async def test_status_shows_a_fingerprint_not_the_token(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology())
    token = (await node.tokens.get()).value.reveal()
    _, status = await get_json(http, f"{node.url}/status")
    info = status["token"]
    assert info["strategy"] == "per-node"
    assert info["fingerprint"] == hashlib.sha256(token.encode()).hexdigest()[:8]
    assert info["state"] == "fresh"
    assert 86000 < info["seconds_left"] <= 86399
    assert info["refresh_count"] == 1
    assert info["last_refresh_error"] is None
    for path in ("/api/top-pages", "/api/top-pages", "/nope"):
        async with http.get(f"{node.url}{path}") as r:
            await r.read()
    async with http.get(f"{node.url}/metrics") as r:
        metrics = await r.text()
    assert 'tokensim_token_calls_total{outcome="ok"} 1.0' in metrics
    assert 'tokensim_token_state{state="fresh"} 1.0' in metrics
    assert 'tokensim_node_requests_total{route="/api/top-pages",status="200"} 2.0' in metrics
    assert 'tokensim_node_requests_total{route="unmatched",status="404"} 1.0' in metrics
    # Prometheus conventions: durations in seconds, histograms per route and per upstream.
    assert 'tokensim_node_request_duration_seconds_count{route="/api/top-pages"} 2.0' in metrics
    assert 'tokensim_node_request_duration_seconds_bucket{le="+Inf",route="/api/top-pages"}' in (
        metrics
    )
    assert 'tokensim_upstream_request_duration_seconds_count{upstream="ims"} 1.0' in metrics
    assert 'tokensim_upstream_request_duration_seconds_count{upstream="analytics"} 1.0' in metrics
    assert re.search(r"^tokensim_token_age_seconds \d", metrics, re.M)


@pytest.mark.looptime
async def test_without_a_token_the_token_gauges_are_absent_not_zero(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    world.ims_faults(outage=True)
    node = await world.start_node(world.topology())
    await asyncio.sleep(5)
    async with http.get(f"{node.url}/metrics") as r:
        metrics = await r.text()
    assert 'tokensim_token_state{state="invalid"} 1.0' in metrics
    assert "tokensim_token_seconds_left" not in metrics  # a 0 would read "expires now"
    assert "tokensim_token_age_seconds" not in metrics
    assert 'tokensim_upstream_request_duration_seconds_count{upstream="ims"}' in metrics


@pytest.mark.looptime
async def test_health_is_503_while_starting_then_200_then_503_draining(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    world.ims_faults(outage=True)
    node = await world.start_node(world.topology())
    await asyncio.sleep(5)
    status, body = await get_json(http, f"{node.url}/health")
    assert (status, body["status"]) == (503, "starting")
    code, _ = await get_json(http, f"{node.url}/api/top-pages")
    assert code == 503
    world.ims_faults(outage=False)
    await asyncio.sleep(120)
    status, body = await get_json(http, f"{node.url}/health")
    assert (status, body["status"]) == (200, "serving")
    lifecycle_of(node.app).draining = True
    status, body = await get_json(http, f"{node.url}/health")
    assert (status, body["status"]) == (503, "draining")


@pytest.mark.looptime
async def test_analytics_outage_serves_the_last_report_marked_stale(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology(analytics={"report_refresh": 10}))
    _, fresh = await get_json(http, f"{node.url}/api/top-pages")
    world.analytics[FAULTS].update({"outage": True})
    await asyncio.sleep(11)
    statuses = []
    for _ in range(20):
        status, body = await get_json(http, f"{node.url}/api/top-pages")
        statuses.append(status)
        assert body["stale"] is True
        assert body["pages"] == fresh["pages"]
        await asyncio.sleep(3)
    assert set(statuses) == {200}
    # Failed fetches are not retried on every request: 1 s after the first, doubling (60 s of
    # an outage cost 6 calls: 1 + 2 + 4 + 8 + 16 + 32 s apart), at most a minute apart.
    assert world.analytics_stats.by_outcome["fault_503"] <= 8
    world.analytics[FAULTS].update({"outage": False})
    await asyncio.sleep(FAILURE_CAP + 1)
    _, body = await get_json(http, f"{node.url}/api/top-pages")
    assert body["stale"] is False


async def test_without_any_report_an_analytics_outage_is_a_clean_503(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    world.analytics[FAULTS].update({"outage": True})
    node = await world.start_node(world.topology())
    status, body = await get_json(http, f"{node.url}/api/top-pages")
    assert status == 503
    assert body == {"node": "p1", "error": "top pages are unavailable right now"}
    async with http.get(f"{node.url}/content/site/en/top-pages.json") as r:
        assert r.status == 503
        assert r.headers["Cache-Control"] == "no-store"
    async with http.get(f"{node.url}/") as r:  # the page comes; its component says so
        assert r.status == 200
        assert "not available right now" in await r.text()


def test_a_report_is_rendered_once_and_a_new_report_anew() -> None:
    rendered = RenderedReports("p1", "/content/site/en/top-pages.json")
    first = TopPages(pages=(PageVisits("/a", 3.0),), fetched_at=1_790_000_000.0)
    body = rendered.top_pages_json(first)
    assert rendered.top_pages_json(first) is body  # the same report: the same bytes
    assert json.loads(body)["pages"] == [{"page": "/a", "visits": 3}]
    second = replace(first, stale=True)
    assert json.loads(rendered.top_pages_json(second))["stale"] is True
    # The home page is the same for everybody: its component fetches the report.
    assert 'data-src="/content/site/en/top-pages.json"' in rendered.home
    assert "<td>/a" not in rendered.home
    assert ">/a<" not in rendered.home
