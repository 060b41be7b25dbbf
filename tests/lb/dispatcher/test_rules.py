"""What the dispatcher caches, against a table of requests and replies whose outcome the AEM
dispatcher's documentation states (Experience League KB ka-17497, "When does the Dispatcher
cache a response?"; the dispatcher configuration docs for /enableTTL, /ignoreUrlParams,
/allowAuthorized; docs/world.md), run twice: against the rules alone, and through a real
dispatcher in front of a publisher that answers as each row says."""

from __future__ import annotations

import contextlib
import email.utils
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from core.topology import DispatcherCacheConfig, Topology
from lb.dispatcher.app import create_app
from lb.dispatcher.rules import reply_decision, request_decision
from tests.support.world import serve, topology_dict

NOW = 1_790_000_000.0
PAST = email.utils.formatdate(NOW - 60, usegmt=True)
FUTURE = email.utils.formatdate(time.time() + 3600, usegmt=True)

# (what the row shows, method, path with query, request headers, status, reply headers,
#  config changes, cached?)
Row = tuple[str, str, str, dict[str, str], int, dict[str, str], dict[str, Any], bool]
TABLE: list[Row] = [
    ("a page with an extension", "GET", "/content/test.html", {}, 200, {}, {}, True),
    ("no extension", "GET", "/content/test", {}, 200, {}, {}, False),
    ("a trailing slash after the extension", "GET", "/content/test.html/", {}, 200, {}, {}, False),
    ("a suffix after the extension", "GET", "/content/test.html/foo.jpg", {}, 200, {}, {}, False),
    ("a JSON file", "GET", "/content/site/en/top-pages.json", {}, 200, {}, {}, True),
    ("selectors and an extension", "GET", "/content/site/en.model.json", {}, 200, {}, {}, True),
    ("HEAD is cacheable as GET", "HEAD", "/content/test.html", {}, 200, {}, {}, True),
    ("POST", "POST", "/content/test.html", {}, 200, {}, {}, False),
    ("PUT", "PUT", "/content/test.html", {}, 200, {}, {}, False),
    ("a query string", "GET", "/content/test.html?q=1", {}, 200, {}, {}, False),
    ("an empty query parameter", "GET", "/content/test.html?q", {}, 200, {}, {}, False),
    ("an ignored parameter", "GET", "/content/test.html?utm_source=x", {}, 200, {},
     {"ignore_url_params": ("utm_*",)}, True),
    ("an ignored and a kept parameter", "GET", "/content/test.html?utm_source=x&q=1", {}, 200,
     {}, {"ignore_url_params": ("utm_*",)}, False),
    ("an Authorization header", "GET", "/content/test.html", {"Authorization": "Bearer x"},
     200, {}, {}, False),
    ("Authorization with /allowAuthorized", "GET", "/content/test.html",
     {"Authorization": "Basic eDp5"}, 200, {}, {"allow_authorized": True}, True),
    ("a login-token cookie", "GET", "/content/test.html", {"Cookie": "login-token=abc"}, 200,
     {}, {}, False),
    ("a login-token cookie among others", "GET", "/content/test.html",
     {"Cookie": "a=1; login-token=abc; b=2"}, 200, {}, {}, False),
    ("another cookie only", "GET", "/content/test.html", {"Cookie": "theme=dark"}, 200, {}, {},
     True),
    ("status 404", "GET", "/content/test.html", {}, 404, {}, {}, False),
    ("status 301", "GET", "/content/test.html", {}, 301, {}, {}, False),
    ("status 500", "GET", "/content/test.html", {}, 500, {}, {}, False),
    ("Dispatcher: no-cache", "GET", "/content/test.html", {}, 200, {"Dispatcher": "no-cache"}, {},
     False),
    ("Cache-Control: no-store", "GET", "/content/test.html", {}, 200,
     {"Cache-Control": "no-store"}, {}, False),
    ("Cache-Control: private", "GET", "/content/test.html", {}, 200,
     {"Cache-Control": "private, max-age=60"}, {}, False),
    ("max-age with /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Cache-Control": "max-age=60"}, {}, True),
    ("max-age=0 with /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Cache-Control": "max-age=0"}, {}, False),
    ("max-age=abc with /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Cache-Control": "max-age=abc"}, {}, False),
    ("Expires in the past with /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Expires": PAST}, {}, False),
    ("Expires not a date with /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Expires": "soon"}, {}, False),
    ("Expires in the future with /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Expires": FUTURE}, {}, True),
    ("max-age=0 without /enableTTL", "GET", "/content/test.html", {}, 200,
     {"Cache-Control": "max-age=0"}, {"enable_ttl": False}, True),
    ("denied by /cache/rules", "GET", "/content/test.html", {}, 200, {},
     {"rules": ({"glob": "*", "type": "allow"}, {"glob": "/content/*", "type": "deny"})}, False),
    ("the last matching rule allows", "GET", "/content/test.html", {}, 200, {},
     {"rules": ({"glob": "*", "type": "deny"}, {"glob": "*.html", "type": "allow"})}, True),
    ("no rule matches", "GET", "/content/test.html", {}, 200, {},
     {"rules": ({"glob": "*.json", "type": "allow"},)}, False),
    ("a reply that sets a cookie", "GET", "/content/test.html", {}, 200,
     {"Set-Cookie": "s=1"}, {}, False),
]  # fmt: skip


def config(changes: dict[str, Any]) -> DispatcherCacheConfig:
    return DispatcherCacheConfig.model_validate(changes)


def decided(row: Row, now_wall: float) -> bool:
    _, method, target, request_headers, status, reply_headers, changes, _ = row
    path, _, query = target.partition("?")
    settings = config(changes)
    asked = request_decision(
        method, path, query, CIMultiDict(request_headers), settings, "login-token"
    )
    return (
        asked.cache and reply_decision(status, CIMultiDict(reply_headers), settings, now_wall).cache
    )


def test_the_table_is_as_big_as_promised() -> None:
    assert len(TABLE) >= 30
    assert {row[-1] for row in TABLE} == {True, False}


@pytest.mark.parametrize("row", TABLE, ids=[row[0] for row in TABLE])
def test_each_row_of_the_table_by_the_rules(row: Row) -> None:
    assert decided(row, time.time()) is row[-1]


async def test_each_row_of_the_table_through_a_real_dispatcher(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """Each row twice through a dispatcher whose publisher answers as the row says: cached
    means the second request is a HIT and the publisher saw one request."""
    passed = 0
    async with aiohttp.ClientSession() as http:
        for number, row in enumerate(TABLE):
            name, method, target, request_headers, _, _, changes, cached = row
            seen: list[str] = []

            async def publisher(
                request: web.Request, answer: Row = row, seen: list[str] = seen
            ) -> web.Response:
                seen.append(request.method)
                return web.Response(status=answer[4], text="x", headers=answer[5])

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", publisher)
            origin = await serve(stack, app)
            data: dict[str, Any] = topology_dict(tmp_path / str(number), "http://x", "http://y")
            data["publishers"] = [{"id": "p1", "port": int(origin.rsplit(":", 1)[1])}]
            data["dispatchers"] = [{"id": "d1", "port": 1, "publisher": "p1"}]
            data["dispatcher"] = {"allow": ["/content/**"], "cache": changes}
            dispatcher = await serve(stack, create_app(Topology.from_dict(data), "d1"))
            caches = []
            # A HEAD is answered from a cached GET (a HEAD reply has no body to keep).
            for asked in ("GET" if method == "HEAD" else method, method):
                async with http.request(
                    asked, dispatcher + target, headers=request_headers, allow_redirects=False
                ) as reply:
                    caches.append(reply.headers.get("X-Cache"))
            hit = caches[1] == "HIT"
            assert hit is cached, (name, caches, seen)
            assert len(seen) == (1 if cached else 2), (name, seen)
            passed += 1
    assert passed == len(TABLE)


def test_repeated_request_headers_are_all_read() -> None:
    settings = config({})
    twice = CIMultiDict([("Cookie", "a=1"), ("Cookie", "login-token=x")])
    assert not request_decision("GET", "/a.html", "", twice, settings, "login-token").cache
    auth = CIMultiDict([("X-Other", "1"), ("Authorization", "")])
    assert not request_decision("GET", "/a.html", "", auth, settings, "login-token").cache
    replies = CIMultiDict([("Cache-Control", "max-age=60"), ("Cache-Control", "no-store")])
    assert not reply_decision(200, replies, settings, NOW).cache


def test_a_lifetime_comes_from_max_age_or_expires() -> None:
    settings = config({})
    assert reply_decision(200, {"Cache-Control": "max-age=90"}, settings, NOW).lifetime == 90
    expires = email.utils.formatdate(NOW + 120, usegmt=True)
    assert reply_decision(200, {"Expires": expires}, settings, NOW).lifetime == pytest.approx(120)
    assert reply_decision(200, {}, settings, NOW).lifetime is None  # until a flush
