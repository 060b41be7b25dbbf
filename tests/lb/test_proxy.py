"""The balancer's data path in one process: real sockets to real aiohttp stand-in dispatchers.

The edge tests (test_edge.py) run the whole estate as processes; these look closely at what
the proxy does with each request: what reaches the target, what comes back, which failures
are retried and which are not, and what becomes of connections. Hostile clients have their own
file (test_edge_hostile.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web

from tests.support.lb import (
    Lb,
    StandIn,
    balancer_for,
    balancer_in_front_of,
    browser,
    lb_status,
    raw_exchange,
)


@pytest.fixture
def stand_ins() -> list[StandIn]:
    return [StandIn(f"p{i}") for i in (1, 2, 3)]


async def test_a_request_reaches_its_target_whole_and_the_reply_comes_back_whole(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
        http.post(
            yarl.URL(f"{lb.url}/api/form?x=%2F1", encoded=True),
            data="a=1&b=2",
            headers={"X-Forwarded-For": "203.0.113.9", "Host": "www.example.com"},
        ) as r,
    ):
        assert r.status == 200
        reply = await r.json()
        cookie = r.headers["Set-Cookie"]
    (target,) = [s for s in stand_ins if s.seen]
    seen = target.seen[0]
    assert reply == {"served_by": target.name, "path": "/api/form?x=%2F1", "body": "a=1&b=2"}
    assert seen["method"] == "POST"
    assert seen["path"] == "/api/form?x=%2F1"  # not decoded on the way
    assert seen["headers"]["Host"] == "www.example.com"  # kept, as ALB does
    assert seen["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "http"
    assert cookie.startswith("AWSALB=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


async def test_an_absolute_form_target_is_sent_in_origin_form_with_its_host(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with balancer_in_front_of(tmp_path, stand_ins) as (lb, _):
        reply = await raw_exchange(
            lb.url,
            b"GET http://shop.example:8443/api/x?q=1 HTTP/1.1\r\nHost: other.example\r\n"
            b"Connection: close\r\n\r\n",
        )
    assert reply.startswith(b"HTTP/1.1 200 ")
    (seen,) = [e for s in stand_ins for e in s.seen]
    assert seen["path"] == "/api/x?q=1"
    assert seen["headers"]["Host"] == "shop.example:8443"  # the target's, not the header's


async def test_a_session_stays_on_its_target(tmp_path: Path, stand_ins: list[StandIn]) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
    ):
        served = set()
        for _ in range(10):
            async with http.get(f"{lb.url}/") as r:
                served.add(r.headers["X-Publisher"])
    assert len(served) == 1


async def test_two_session_cookies_that_name_different_targets_are_no_session(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    """Every AWSALB occurrence is read: a valid copy beside another (forged, stale, or valid
    for another target) does not choose the publisher; the request starts a new session, as
    it would with no cookie. The same target named twice is that target's session."""

    def request(*cookie_lines: str) -> bytes:
        lines = ["GET / HTTP/1.1", "Host: x", "Connection: close", *cookie_lines, "", ""]
        return "\r\n".join(lines).encode()

    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
    ):
        cookies = {}
        for _ in range(3):  # new sessions, round robin: one cookie per target
            async with browser() as visitor, visitor.get(f"{lb.url}/") as r:
                cookies[r.headers["X-Publisher"]] = r.cookies["AWSALB"].value
        first, second = sorted(cookies)[:2]

        async def sessions() -> int:
            return sum(t["sessions"] for t in (await lb_status(http, lb))["targets"])

        before = await sessions()
        same = f"Cookie: AWSALB={cookies[first]}"
        agreeing = await raw_exchange(lb.url, request(same, same))
        after_agreeing = await sessions()
        both = f"Cookie: AWSALB={cookies[first]}; AWSALB={cookies[second]}"
        disagreeing = await raw_exchange(lb.url, request(both))
        after_disagreeing = await sessions()
    assert len(cookies) == 3
    assert before == 3
    assert f"X-Publisher: {first}".encode() in agreeing
    assert after_agreeing == before  # followed: no new session
    assert disagreeing.startswith(b"HTTP/1.1 200 ")
    assert after_disagreeing == before + 1  # neither followed: a new session


async def test_a_get_that_a_dispatcher_cannot_serve_is_retried_once_elsewhere(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
    ):
        stand_ins[0].mode = "publisher-down"  # d1's publisher is unreachable
        statuses = []
        for _ in range(3):  # new sessions: round robin starts one of them on d1
            async with browser() as client, client.get(f"{lb.url}/") as r:
                statuses.append(r.status)
        status = await lb_status(http, lb)
    assert statuses == [200, 200, 200]
    states = {t["id"]: t["state"] for t in status["targets"]}
    assert states == {"d1": "unhealthy", "d2": "healthy", "d3": "healthy"}  # passive check
    assert status["targets"][0]["last_problem"] == "unreachable (502)"  # the dispatcher's word
    assert status["retries"] == 1
    assert len(stand_ins[0].seen) == 1  # and nothing more was sent to it
    # Each session counts where it was served: the retried one on the target that answered.
    sessions = {t["id"]: t["sessions"] for t in status["targets"]}
    assert sessions["d1"] == 0
    assert sum(sessions.values()) == 3


async def test_a_get_is_retried_once_and_no_more_when_every_target_fails(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
    ):
        for s in stand_ins:
            s.mode = "publisher-down"
        async with http.get(f"{lb.url}/") as r:
            assert r.status == 502
            assert await r.text() == "down"  # the second dispatcher's own reply
        status = await lb_status(http, lb)
    assert sorted(len(s.seen) for s in stand_ins) == [0, 1, 1]  # two targets tried, not three
    assert status["retries"] == 1


async def test_a_post_is_never_retried(tmp_path: Path, stand_ins: list[StandIn]) -> None:
    async with balancer_in_front_of(tmp_path, stand_ins) as (lb, _):
        for s in stand_ins:
            s.mode = "publisher-down"
        async with browser() as client, client.post(f"{lb.url}/", data="x") as r:
            assert r.status == 502
            assert await r.text() == "down"  # the dispatcher's own reply, passed on
    assert sum(len(s.seen) for s in stand_ins) == 1


async def test_a_target_that_refuses_connections_is_skipped_for_a_get(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    # Active checks only at start-up: what takes the target out here is the failed request.
    checks = {"interval": "1h", "timeout": "1s"}
    async with (
        balancer_in_front_of(tmp_path, stand_ins, health_check=checks) as (lb, runners),
        browser() as http,
    ):
        async with http.get(f"{lb.url}/") as r:
            first = r.headers["X-Publisher"]
        # Stop that target: its pooled connection closes, and its port refuses new ones.
        await runners[[s.name for s in stand_ins].index(first)].cleanup()
        async with http.get(f"{lb.url}/") as r:
            assert r.status == 200
            moved_to = r.headers["X-Publisher"]
        async with http.get(f"{lb.url}/") as r:
            stays_on = r.headers["X-Publisher"]  # the new cookie names the new target
        status = await lb_status(http, lb)
    assert moved_to != first
    assert stays_on == moved_to
    states = {t["publisher"]: t["state"] for t in status["targets"]}
    assert states[first] == "unhealthy"
    assert status["retries"] == 1


async def test_a_target_that_does_not_reply_in_time_gives_504_without_a_retry(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins, timeout="300ms") as (lb, _),
        browser() as http,
    ):
        async with browser() as client:
            async with client.get(f"{lb.url}/") as r:  # a session, pinned to one target
                assert r.status == 200
            for s in stand_ins:
                s.mode = "hang"
            try:
                for _ in range(2):
                    async with client.get(f"{lb.url}/") as r:
                        assert r.status == 504
            finally:
                for s in stand_ins:
                    s.release.set()
        status = await lb_status(http, lb)
    assert sum(len(s.seen) for s in stand_ins) == 3  # one answered, two timed out
    assert sorted(t["errors"] for t in status["targets"]) == [0, 0, 2]  # each counted against it
    assert status["retries"] == 0


async def test_a_reused_connection_the_target_had_closed_is_replaced_without_an_error(
    tmp_path: Path,
) -> None:
    # A target that answers the first request on each connection and closes the connection
    # when a second one comes, without a reply: what a keep-alive timeout on the target's
    # side looks like when it races with the balancer reusing the connection.
    accepted = 0

    async def first_request_only(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal accepted
        accepted += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Publisher: p\r\n\r\nok")
            await reader.readuntil(b"\r\n\r\n")
        writer.close()

    servers = [await asyncio.start_server(first_request_only, "127.0.0.1", 0) for _ in range(3)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    checks = {"interval": "1h", "timeout": "1s"}  # checks at start-up only
    try:
        async with balancer_for(tmp_path, ports, health_check=checks) as lb, browser() as http:
            accepted_before = accepted
            statuses = []
            for _ in range(4):
                async with http.get(f"{lb.url}/") as r:
                    statuses.append((r.status, await r.text()))
            status = await lb_status(http, lb)
    finally:
        for server in servers:
            server.close()
    assert statuses == [(200, "ok")] * 4
    assert accepted - accepted_before == 4  # requests 2..4 each found their connection closed
    assert status["retries"] == 0  # and were sent again to the same target, not elsewhere
    assert all(t["state"] == "healthy" for t in status["targets"])


async def test_pipelined_requests_are_answered_in_order_then_a_malformed_one_closes(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with balancer_in_front_of(tmp_path, stand_ins) as (lb, _):
        reply = await raw_exchange(
            lb.url,
            b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n"
            b"NONSENSE\r\n\r\n",
        )
    responses = reply.split(b"HTTP/1.1 ")[1:]
    assert [r[:3] for r in responses] == [b"200", b"200", b"200", b"400"]
    bodies = [r.split(b"\r\n\r\n", 1)[1] for r in responses]
    assert json.loads(bodies[0])["path"] == "/one"
    assert bodies[1] == b""  # HEAD: no body...
    assert b"content-length" in responses[1].lower()  # ...but its length
    assert json.loads(bodies[2])["path"] == "/three"
    assert b"Connection: close" in responses[3]
    assert sorted(e["path"] for s in stand_ins for e in s.seen) == ["/one", "/three", "/two"]


async def test_the_control_plane_is_on_its_own_listener_and_not_on_the_public_port(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
    ):
        status = await lb_status(http, lb)  # asserts the 200
        assert {t["id"] for t in status["targets"]} == {"d1", "d2", "d3"}
        async with http.get(f"{lb.admin}/lb/metrics") as r:
            assert r.status == 200
            assert "tokensim_lb_target_requests" in await r.text()
        async with http.get(f"{lb.url}/lb/health") as r:  # the one page of its own in public
            assert r.status == 200
            assert await r.json() == {"status": "serving"}
        assert all(not s.seen for s in stand_ins)
        for method, path in (
            ("GET", "/lb/status"),
            ("GET", "/lb/metrics"),
            ("POST", "/lb/targets/d1/deregister"),
            ("POST", "/lb/targets/d2/deregister"),
        ):
            async with http.request(method, f"{lb.url}{path}") as r:
                assert "served_by" in await r.json()  # the estate's answer, not the LB's
        status = await lb_status(http, lb)
    # Like any other path, they went to the estate (whose dispatchers 404 them)...
    assert sorted(e["path"] for s in stand_ins for e in s.seen) == sorted(
        ["/lb/status", "/lb/metrics", "/lb/targets/d1/deregister", "/lb/targets/d2/deregister"]
    )
    # ...and took no target out.
    assert {t["state"] for t in status["targets"]} == {"healthy"}


async def test_the_status_counts_requests_sessions_errors_and_moves(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    checks = {"interval": "1h", "timeout": "1s"}  # after start-up, only real requests judge
    async with (
        balancer_in_front_of(tmp_path, stand_ins, health_check=checks) as (lb, runners),
        browser() as http,
        browser() as visitor,
    ):
        for _ in range(3):
            async with visitor.get(f"{lb.url}/") as r:
                first = r.headers["X-Publisher"]
        old_cookie = r.cookies["AWSALB"].value
        status = await lb_status(http, lb)
        targets = {t["publisher"]: t for t in status["targets"]}
        assert status["requests"] == 3
        assert status["health_check_rounds"] == 1  # the one at start; the next is in an hour
        assert targets[first]["sessions"] == 1  # one visitor, one session
        assert sum(t["sessions"] for t in targets.values()) == 1
        assert targets[first]["requests"] == 3

        names = [s.name for s in stand_ins]
        await runners[names.index(first)].cleanup()
        async with visitor.get(f"{lb.url}/") as r:
            assert r.status == 200  # retried on another target, which now has the session
            second = r.headers["X-Publisher"]
        await runners[names.index(second)].cleanup()  # that one goes too, still deemed healthy
        async with visitor.get(f"{lb.url}/") as r:
            assert r.status == 200  # retried again, on the last one
            third = r.headers["X-Publisher"]
        assert len({first, second, third}) == 3
        # A request still carrying the cookie of the target that is gone: a session moved.
        cookie = {"Cookie": f"AWSALB={old_cookie}"}
        for _ in range(2):  # twice: each is a session moved
            async with browser() as other, other.get(f"{lb.url}/", headers=cookie) as r:
                assert r.status == 200
                assert r.headers["X-Publisher"] == third
        status = await lb_status(http, lb)
        targets = {t["publisher"]: t for t in status["targets"]}
        assert (status["requests"], status["retries"], status["sessions_moved"]) == (7, 2, 2)
        errors = {name: t["errors"] for name, t in targets.items()}
        assert errors == {first: 1, second: 1, third: 0}
        sessions = {name: t["sessions"] for name, t in targets.items()}
        assert sessions == {first: 1, second: 1, third: 3}  # a retry and a move start one each
        assert targets[first]["last_problem"] == "connection failed"
        assert all(t["in_flight"] == 0 for t in targets.values())

        for target in status["targets"]:  # every target deregistered: nowhere to send
            async with http.post(f"{lb.admin}/lb/targets/{target['id']}/deregister") as r:
                assert r.status < 300
        for _ in range(2):
            async with visitor.get(f"{lb.url}/") as r:
                assert (r.status, await r.text()) == (503, "503 no target available\n")
        async with http.get(f"{lb.url}/lb/health") as r:
            assert (r.status, await r.json()) == (503, {"status": "starting"})
            assert r.headers["Cache-Control"] == "no-store"
        status = await lb_status(http, lb)
        assert (status["requests"], status["retries"], status["no_target"]) == (9, 2, 2)


@pytest.mark.parametrize("secure", [False, True])
async def test_the_session_cookie_has_the_attributes_alb_gives_it(
    tmp_path: Path, stand_ins: list[StandIn], secure: bool
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins, sticky={"secure": secure}) as (lb, _),
        browser() as client,
        client.get(f"{lb.url}/") as r,
    ):
        set_cookie = r.headers["Set-Cookie"]
    _, _, attributes = set_cookie.partition("; ")
    expected = "Max-Age=86400; Path=/; HttpOnly; SameSite=Lax"  # ALB: one day by default
    assert attributes == (f"{expected}; Secure" if secure else expected)


async def test_when_no_target_can_be_reached_the_browser_gets_502(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    checks = {"interval": "1h", "timeout": "1s"}
    async with balancer_in_front_of(tmp_path, stand_ins, health_check=checks) as (lb, runners):
        for runner in runners:
            await runner.cleanup()
        async with browser() as client, client.get(f"{lb.url}/") as r:
            assert (r.status, r.reason) == (502, "Bad Gateway")
            assert await r.text() == "502 no target could serve the request\n"


async def a_session_pinned_to_p1(lb: Lb) -> dict[str, str]:
    """The Cookie header of a session on p1's target: three new sessions, round robin, give
    one on each."""
    cookies = {}
    for _ in range(3):
        async with browser() as client, client.get(f"{lb.url}/") as r:
            cookies[r.headers["X-Publisher"]] = r.cookies["AWSALB"].value
    return {"Cookie": f"AWSALB={cookies['p1']}"}


async def readmitted(http: aiohttp.ClientSession, lb: Lb) -> Any:
    """The balancer's status once health checks (every 100 ms) have readmitted p1's target."""
    for _ in range(100):  # bounded
        status = await lb_status(http, lb)
        if status["targets"][0]["state"] == "healthy":
            return status
        await asyncio.sleep(0.05)
    pytest.fail("the target was never readmitted")


async def test_a_target_failing_again_after_it_came_back_counts_each_failure(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
    ):
        pinned = await a_session_pinned_to_p1(lb)
        stand_ins[0].mode = "publisher-down"
        for _ in range(2):
            async with (
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client,
                client.get(f"{lb.url}/", headers=pinned) as r,
            ):
                assert r.status == 200  # retried elsewhere
            status = await readmitted(http, lb)
        assert status["targets"][0]["errors"] == 2
        assert status["retries"] == 2


async def test_a_target_refusing_connections_again_after_it_came_back_counts_each_failure(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        contextlib.AsyncExitStack() as restarted,
        balancer_in_front_of(tmp_path, stand_ins) as (lb, runners),
        browser() as http,
    ):
        pinned = await a_session_pinned_to_p1(lb)
        port = runners[0].addresses[0][1]
        for _ in range(2):
            await runners[0].cleanup()  # p1's dispatcher stops: connections are refused
            async with (
                aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client,
                client.get(f"{lb.url}/", headers=pinned) as r,
            ):
                assert r.status == 200  # retried elsewhere
                assert r.headers["X-Publisher"] != "p1"
            runners[0] = web.AppRunner(stand_ins[0].app(), access_log=None)
            await runners[0].setup()
            restarted.push_async_callback(runners[0].cleanup)
            await web.TCPSite(runners[0], "127.0.0.1", port).start()  # back on its port
            status = await readmitted(http, lb)
        assert status["targets"][0]["errors"] == 2
        assert status["targets"][0]["last_problem"] == "connection failed"
        assert status["retries"] == 2


async def test_a_dispatcher_error_header_that_is_not_utf8_is_still_an_error_and_retried(
    tmp_path: Path,
) -> None:
    # A dispatcher in front of a broken publisher that says so in bytes that are not UTF-8
    # (Latin-1 "café", then a stray 0xff): the balancer still reads it as the dispatcher's
    # error, retries elsewhere, and records the reason with the bad bytes replaced.
    def dispatcher(broken: bool) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                head = await reader.readuntil(b"\r\n\r\n")
                if broken and not head.startswith(b"GET /health "):
                    writer.write(
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\nConnection: close\r\n"
                        b"X-Dispatcher-Error: caf\xe9 \xff\r\n\r\ndown"
                    )
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                        b"X-Publisher: p\r\n\r\nok"
                    )
                await writer.drain()
            writer.close()

        return answer

    servers = [
        await asyncio.start_server(dispatcher(broken=i == 0), "127.0.0.1", 0) for i in range(3)
    ]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    checks = {"interval": "1h", "timeout": "1s"}  # checks at start-up only
    try:
        async with balancer_for(tmp_path, ports, health_check=checks) as lb, browser() as http:
            statuses = []
            for _ in range(3):  # three new sessions, round robin: one lands on the broken one
                async with browser() as client, client.get(f"{lb.url}/") as r:
                    statuses.append((r.status, await r.text()))
            status = await lb_status(http, lb)
    finally:
        for server in servers:
            server.close()
    assert statuses == [(200, "ok")] * 3
    assert status["retries"] == 1
    broken = status["targets"][0]
    assert (broken["state"], broken["errors"]) == ("unhealthy", 1)
    assert broken["last_problem"] == "caf\ufffd \ufffd (502)"


async def test_two_requests_at_once_on_one_target_are_both_in_flight(
    tmp_path: Path, stand_ins: list[StandIn]
) -> None:
    async with (
        balancer_in_front_of(tmp_path, stand_ins) as (lb, _),
        browser() as http,
        browser() as visitor,
    ):
        async with visitor.get(f"{lb.url}/") as r:
            served_by = r.headers["X-Publisher"]
        index = [s.name for s in stand_ins].index(served_by)
        stand_ins[index].mode = "hang"
        waiting = [asyncio.ensure_future(visitor.get(f"{lb.url}/")) for _ in range(2)]
        for _ in range(100):  # bounded: until both reached the target
            if len(stand_ins[index].seen) == 3:
                break
            await asyncio.sleep(0.02)
        status = await lb_status(http, lb)
        assert status["targets"][index]["in_flight"] == 2
        stand_ins[index].release.set()
        for response in await asyncio.gather(*waiting):
            assert response.status == 200
            response.release()
        status = await lb_status(http, lb)
        assert status["targets"][index]["in_flight"] == 0


async def test_a_fault_in_the_balancer_itself_answers_500_and_is_logged(
    tmp_path: Path,
    stand_ins: list[StandIn],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the balancer")

    async with balancer_in_front_of(tmp_path, stand_ins) as (lb, _):
        monkeypatch.setattr("lb.proxy._response", broken)
        async with browser() as client, client.get(f"{lb.url}/") as r:
            assert (r.status, await r.text()) == (500, "internal error\n")
    assert "the balancer failed to forward a request" in caplog.text
