"""The dispatcher in front of a publisher: filter, cache rules, invalidation, health."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web

from core.topology import Topology
from lb.dispatcher.app import create_app
from lb.dispatcher.filters import PathFilter
from tests.support.world import serve, topology_dict

WIDGET = "/content/site/en/top-pages.json"


class Publisher:
    """A stand-in publisher that counts what reaches it and answers as told."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.cache_control = "max-age=60"
        self.set_cookie: str | None = None
        self.healthy = True

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_route("*", "/{tail:.*}", self.page)
        return app

    async def page(self, request: web.Request) -> web.Response:
        self.hits[request.path_qs] += 1
        headers = {"Cache-Control": self.cache_control}
        if self.set_cookie is not None:
            headers["Set-Cookie"] = self.set_cookie
        return web.json_response(
            {"path": request.path_qs, "n": self.hits[request.path_qs]}, headers=headers
        )

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({}, status=200 if self.healthy else 503)


async def start(
    stack: contextlib.AsyncExitStack, tmp_path: Path, publisher: Publisher, **settings: Any
) -> str:
    url = await serve(stack, publisher.app())
    port = int(url.rsplit(":", 1)[1])
    data: dict[str, Any] = topology_dict(tmp_path, "http://x", "http://y")
    data["publishers"] = [{"id": "p1", "port": port}]
    data["dispatchers"] = [{"id": "d1", "port": 1, "publisher": "p1"}]
    data["dispatcher"] = {
        "allow": ["/", "/api/top-pages", "/static/*", "/content/**.html", "/content/**.json"],
        **settings,
    }
    return await serve(stack, create_app(Topology.from_dict(data), "d1"))


async def get(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, str, Any]:
    async with http.get(url, **kw) as r:
        return r.status, r.headers.get("X-Cache", ""), await r.json(content_type=None)


@pytest.mark.parametrize(
    "path",
    [
        "/status",
        "/metrics",
        "/admin/stats",
        "/api/../status",
        "/api/./top-pages",
        "/%2e%2e/status",
        "/api%2Ftop-pages",
        "/api%2ftop-pages",
        "//status",
        "/STATUS",
        "/API/top-pages",
        "/static/../status",
        "/static/..%2fstatus",
        "/static\\..\\status",
        "/api/top-pages/",
        "/api/top-pages/../../status",
        "/%61pi/top-pages",
        "/static/..;/status",  # a traversal on Sling and other Java back ends
        "/static/x;jsessionid=1",
        "/static/site.css#/../../status",
        "/static/a b.css",
        "/static/a/b.js",  # * stays within one segment
    ],
)
def test_filter_refuses_everything_not_plainly_allowed(path: str) -> None:
    assert not PathFilter(["/", "/api/top-pages", "/static/*"]).allows(path)


@pytest.mark.parametrize("path", ["/", "/api/top-pages", "/static/site.css", "/static/a-b_c~d.js"])
def test_filter_allows_the_allow_list(path: str) -> None:
    assert PathFilter(["/", "/api/top-pages", "/static/*"]).allows(path)


def test_a_double_star_reaches_across_segments_and_a_single_one_does_not() -> None:
    deep = PathFilter(["/content/**.html"])
    assert deep.allows("/content/site/en/a.html")
    assert not deep.allows("/content/site/en/a.json")
    shallow = PathFilter(["/content/*.html"])
    assert shallow.allows("/content/a.html")
    assert not shallow.allows("/content/site/a.html")


async def test_filtered_paths_never_reach_the_publisher(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    url = await start(stack, tmp_path, publisher)
    for path in ("/status", "/metrics", "/api/../status", "/%2e%2e/status", "//status"):
        async with http.get(yarl_raw(url + path)) as r:
            assert r.status == 404
            assert r.headers["X-Dispatcher"] == "d1"
    assert sum(publisher.hits.values()) == 0


def yarl_raw(url: str) -> yarl.URL:
    """The URL exactly as written: no normalisation of ``..`` or escapes by the client."""
    return yarl.URL(url, encoded=True)


async def test_cache_hits_and_what_is_never_cached(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    url = await start(stack, tmp_path, publisher)
    assert (await get(http, f"{url}{WIDGET}"))[1] == "MISS"
    status, cache, body = await get(http, f"{url}{WIDGET}")
    assert (status, cache, body["n"]) == (200, "HIT", 1)
    await get(http, f"{url}{WIDGET}", headers={"Authorization": "Bearer x"})
    await get(http, f"{url}{WIDGET}", headers={"Cookie": "login-token=abc"})
    await get(http, f"{url}{WIDGET}?x=1")
    assert publisher.hits == {WIDGET: 3, f"{WIDGET}?x=1": 1}
    publisher.cache_control = "no-cache"
    await get(http, f"{url}/content/site/en.html")
    assert (await get(http, f"{url}/content/site/en.html"))[1] == "MISS"
    assert publisher.hits["/content/site/en.html"] == 2


async def test_a_head_never_fills_the_cache_and_may_be_answered_from_a_get(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    url = await start(stack, tmp_path, publisher)
    async with http.head(f"{url}{WIDGET}") as r:
        assert (r.status, r.headers["X-Cache"]) == (200, "MISS")
    status, cache, body = await get(http, f"{url}{WIDGET}")
    assert (status, cache, body["n"]) == (200, "MISS", 2)  # a whole page, not HEAD's nothing
    async with http.head(f"{url}{WIDGET}") as r:
        assert (r.status, r.headers["X-Cache"]) == (200, "HIT")  # from the cached GET
        assert await r.read() == b""
    assert (await get(http, f"{url}{WIDGET}"))[1:] == ("HIT", body)
    assert publisher.hits[WIDGET] == 2


async def test_a_reply_that_sets_a_cookie_is_never_served_from_the_cache(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    publisher.set_cookie = "session=one-users-session; HttpOnly"
    url = await start(stack, tmp_path, publisher)
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as alice,
        alice.get(f"{url}{WIDGET}") as r,
    ):
        assert r.headers["Set-Cookie"].startswith("session=one-users-session")
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bob,
        bob.get(f"{url}{WIDGET}") as r,
    ):
        assert r.headers["X-Cache"] == "MISS"  # asked the publisher again...
    assert publisher.hits[WIDGET] == 2  # ...rather than hand Bob Alice's session


async def test_flush_invalidation_and_refusal_through_the_lb(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    url = await start(stack, tmp_path, publisher)
    await get(http, f"{url}{WIDGET}")
    async with http.post(
        f"{url}/dispatcher/invalidate.cache",
        headers={"CQ-Handle": "/content/site/en/top-pages", "X-Forwarded-For": "203.0.113.9"},
    ) as r:
        assert r.status == 404
    for proxied in ("X-Forwarded-Proto", "Forwarded", "Via"):  # any sign of a proxy hop
        async with http.post(
            f"{url}/dispatcher/invalidate.cache",
            headers={"CQ-Handle": "/content/site/en/top-pages", proxied: "x"},
        ) as r:
            assert r.status == 404, proxied
    async with http.post(
        f"{url}/dispatcher/invalidate.cache", headers={"CQ-Handle": "/content/site/en/top-pages"}
    ) as r:
        assert (await r.json())["invalidated"] == 1
    assert (await get(http, f"{url}{WIDGET}"))[1] == "MISS"


async def test_invalidation_only_from_an_allowed_client(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    url = await start(stack, tmp_path, publisher, flush_clients=["10.0.0.5"])
    await get(http, f"{url}{WIDGET}")
    async with http.post(
        f"{url}/dispatcher/invalidate.cache", headers={"CQ-Handle": "/content/site/en/top-pages"}
    ) as r:
        assert r.status == 404  # 127.0.0.1 is not on this dispatcher's list
    assert (await get(http, f"{url}{WIDGET}"))[1] == "HIT"


async def test_health_reflects_the_publisher(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    publisher = Publisher()
    url = await start(stack, tmp_path, publisher)
    assert (await get(http, f"{url}/health"))[0] == 200
    publisher.healthy = False
    assert (await get(http, f"{url}/health"))[0] == 503


async def test_unreachable_publisher_gives_a_labelled_502(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with contextlib.AsyncExitStack() as inner:
        data: dict[str, Any] = topology_dict(tmp_path, "http://x", "http://y")
        data["publishers"] = [{"id": "p1", "port": 9}]  # nothing listens there
        data["dispatchers"] = [{"id": "d1", "port": 1, "publisher": "p1"}]
        url = await serve(inner, create_app(Topology.from_dict(data), "d1"))
        async with http.get(f"{url}/api/top-pages") as r:
            assert r.status == 502
            assert r.headers["X-Dispatcher-Error"] == "publisher-unreachable"
        async with http.get(f"{url}/health") as r:
            assert r.status == 503
