"""The edge-cached design's CDN: the VCL generated from topology.yaml, compiled and run by a
real varnishd in front of a real origin on port 0. It keeps the widget's data for max-age,
one copy for every visitor (cookies dropped for it), passes what is not marked cacheable, and
serves its stale copy while the origin fails (stale-if-error)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from core.topology import Topology
from harness.estate.processes import free_ports
from harness.virtual.edge import replay
from lb.cdn.main import find_varnishd
from lb.cdn.vcl import WIDGET, render
from tests.support.redis import dies_with_this_process
from tests.support.world import serve, topology_dict

VARNISHD = find_varnishd()
pytestmark = pytest.mark.skipif(
    VARNISHD is None and not os.environ.get("TOKENSIM_REQUIRE_VARNISH"),
    reason="varnishd is not installed (apt-get install varnish)",
)


class Origin:
    """The balancer as the CDN sees it: the widget cacheable for 2 s, a page with a cookie."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.failing = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.answer)
        return app

    async def answer(self, request: web.Request) -> web.Response:
        self.calls[request.path] = self.calls.get(request.path, 0) + 1
        if self.failing:
            return web.Response(status=503, text="down")
        if request.path == WIDGET:
            return web.json_response(
                {"n": self.calls[WIDGET], "cookie": request.headers.get("Cookie", "")},
                headers={
                    "Cache-Control": "public, max-age=2, stale-while-revalidate=2, "
                    "stale-if-error=600",
                    "Set-Cookie": "AWSALB=session-of-someone",
                },
            )
        return web.Response(text="page", headers={"Set-Cookie": "AWSALB=x"})  # no Cache-Control


@contextlib.asynccontextmanager
async def cdn_in_front(tmp_path: Path, origin_url: str) -> AsyncIterator[str]:
    cdn_port, admin = free_ports(2)
    origin_port = int(origin_url.rsplit(":", 1)[1])
    data = topology_dict(
        tmp_path,
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        lb={"port": origin_port, "admin": {"port": admin}},
        cdn={"port": cdn_port, "probe_interval": 1},
        analytics={"widget_cache": {"stale_while_revalidate": 2, "stale_if_error": 600}},
    )
    topology = Topology.from_dict(data)
    vcl = tmp_path / "cdn.vcl"
    vcl.write_text(render(topology))
    assert VARNISHD is not None
    process = subprocess.Popen(  # noqa: ASYNC220 (started once, waited for below)
        [
            *dies_with_this_process(),
            VARNISHD,
            "-F",
            "-j",
            "none",
            "-n",
            str(tmp_path / "varnish"),
            "-a",
            f"127.0.0.1:{cdn_port}",
            "-f",
            str(vcl),
            "-s",
            "malloc,16m",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{cdn_port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):  # bounded: up to 30 s on a busy machine
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "/cdn/health") as reply:
                        if reply.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("varnishd did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_generated_vcl_compiles(tmp_path: Path) -> None:
    data = topology_dict(tmp_path, "http://i", "http://a", lb={"port": 18080}, cdn={"port": 18090})
    vcl = tmp_path / "cdn.vcl"
    vcl.write_text(render(Topology.from_dict(data)))
    assert VARNISHD is not None
    done = subprocess.run(
        [VARNISHD, "-C", "-j", "none", "-n", str(tmp_path / "w"), "-f", str(vcl)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.long  # seconds of real time: the cache's max-age and grace
async def test_varnish_keeps_the_widget_once_for_everybody_and_serves_it_stale_on_error(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    origin = Origin()
    origin_url = await serve(stack, origin.app())
    async with cdn_in_front(tmp_path, origin_url) as cdn, aiohttp.ClientSession() as http:

        async def widget(cookie: str) -> tuple[str, dict[str, object], str]:
            async with http.get(cdn + WIDGET, headers={"Cookie": cookie}) as reply:
                assert reply.status == 200
                return (
                    reply.headers.get("X-CDN", ""),
                    await reply.json(),
                    str(reply.headers.get("Set-Cookie", "")),
                )

        first = await widget("AWSALB=alice")
        second = await widget("AWSALB=bob")
        assert (first[0], second[0]) == ("MISS", "HIT")
        assert first[1]["cookie"] == ""  # the origin never saw a visitor's cookie
        assert second[2] == ""  # nor does a visitor get another's session cookie
        assert origin.calls[WIDGET] == 1

        for _ in range(2):  # a page without Cache-Control is not kept
            async with http.get(cdn + "/content/site/en.html") as reply:
                assert reply.headers.get("X-CDN") == "MISS"
        assert origin.calls["/content/site/en.html"] == 2

        origin.failing = True
        await asyncio.sleep(4.5)  # past max-age and stale-while-revalidate, within stale-if-error
        for _ in range(3):
            _, body, _ = await widget("")
            assert body["n"] == 1  # the stale copy, not the origin's 503


class TimedOrigin:
    """A widget fresh for 1 s, revalidated for 2 more; each copy says when it was made."""

    def __init__(self) -> None:
        self.fetches = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.answer)
        return app

    async def answer(self, request: web.Request) -> web.Response:
        if request.path != WIDGET:
            return web.Response(text="ok")
        self.fetches += 1
        return web.json_response(
            {"made": time.monotonic()},
            headers={"Cache-Control": "public, max-age=1, stale-while-revalidate=2"},
        )


@pytest.mark.long  # seconds of real time: the cache's max-age and grace
async def test_varnish_and_the_virtual_worlds_edge_policy_agree_on_one_trace(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    """The same trace (a request every 0.1 s for 8 s) through a real varnishd and through the
    policy the virtual world assumes (harness.virtual.edge.replay): the same number of fetches
    from the origin, and visitors shown copies of the same age."""
    origin = TimedOrigin()
    origin_url = await serve(stack, origin.app())
    async with cdn_in_front(tmp_path, origin_url) as cdn, aiohttp.ClientSession() as http:
        start = time.monotonic()
        times: list[float] = []
        ages: list[float] = []
        for i in range(80):
            await asyncio.sleep(max(0.0, start + i * 0.1 - time.monotonic()))
            sent = time.monotonic()
            async with http.get(cdn + WIDGET) as reply:
                assert reply.status == 200
                made = float((await reply.json())["made"])
            times.append(sent - start)
            ages.append(max(0.0, sent - made))
    model = replay(times, max_age=1.0, stale_while_revalidate=2.0, fetch_seconds=0.005)
    assert 7 <= origin.fetches <= 9  # one per max-age, a request's gap late each time
    assert abs(origin.fetches - model.fetches) <= 1
    assert abs(statistics.median(ages) - statistics.median(model.ages)) < 0.25
    assert max(ages) < 1.0 + 0.5  # never older than max-age and one revalidation
    assert abs(max(ages) - max(model.ages)) < 0.3
