"""The edge against hostile clients, over real sockets: the built-in balancer in front of real
dispatchers in front of echo publishers (tests/edge_estate.py). Every response carries the path
it answers, so a test can tell whether a client got its own response or someone else's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from lb.frontend import TICK
from tests.support.edge import edge_estate, exchange, read_reply
from tests.support.lb import balancer_for


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: www.example.com", *extra, "", ""]
    return "\r\n".join(lines).encode()


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bool, bytes]:
    """Whether the balancer closed the connection within ``seconds``; what it sent first."""
    try:
        data = await asyncio.wait_for(reader.read(), seconds)  # until EOF
    except TimeoutError:
        return False, b""
    return True, data


# --- Expect: 100-continue ---------------------------------------------------------------------


async def test_expect_100_continue_never_shifts_a_response_to_another_client(
    tmp_path: Path,
) -> None:
    async with edge_estate(tmp_path) as estate:
        # The attacker's requests ask for 100 Continue, go to a slow target, and share
        # pooled connections to the dispatchers with everyone else's.
        async def attacker(n: int) -> list[tuple[str, int, str]]:
            path = f"/static/slow-attacker-{n}"
            replies = await exchange(estate.url, get(path, "Expect: 100-continue"), replies=1)
            return [(path, r.status, r.headers.get("x-echo", "")) for r in replies]

        async def victim(n: int) -> list[tuple[str, int, str]]:
            out = []
            reader, writer = await connect(estate.url)
            try:
                for i in range(5):  # keep-alive: several requests on one connection
                    path = f"/static/victim-{n}-{i}"
                    writer.write(get(path))
                    reply = await asyncio.wait_for(read_reply(reader), 5)
                    out.append((path, reply.status, reply.headers.get("x-echo", "")))
            finally:
                writer.close()
            return out

        results = await asyncio.gather(
            *(attacker(n) for n in range(10)), *(victim(n) for n in range(20))
        )
        seen = estate.seen
    answers = [answer for client in results for answer in client]
    assert len(answers) == 10 + 20 * 5
    assert all(status == 200 for _, status, _ in answers), answers
    assert all(echo == path for path, _, echo in answers)  # each its own response
    assert not any("expect" in {k.lower() for k in headers} for _, _, headers, _ in seen)


async def test_a_post_with_expect_gets_100_continue_from_the_balancer_then_its_reply(
    tmp_path: Path,
) -> None:
    async with edge_estate(tmp_path) as estate:
        reader, writer = await connect(estate.url)
        body = b"x" * 2000  # curl sends Expect: 100-continue by itself above 1 KB
        writer.write(
            b"POST /static/form HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"  # ask for the body: it is read here
        writer.write(body)
        reply = await asyncio.wait_for(read_reply(reader), 5)
        writer.close()
    assert reply.status == 200
    assert reply.body == b"POST /static/form 2000"


async def test_a_target_that_answers_twice_is_never_reused(tmp_path: Path) -> None:
    # A target that sends an interim 100 and then, in the same bytes, its reply and a second,
    # unsolicited one: the balancer must skip the 1xx, hand on the first final reply, and not
    # put the connection back in the pool (the extra reply would go to the next request).
    served = 0

    writers: list[asyncio.StreamWriter] = []

    async def double(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /health"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    continue
                served += 1
                path = head.split(b" ")[1]
                writer.write(
                    b"HTTP/1.1 100 Continue\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nX-Echo: " + path + b"\r\nContent-Length: 4\r\n\r\nmine"
                    b"HTTP/1.1 200 OK\r\nX-Echo: /stolen\r\n"  # half of an unasked reply...
                )
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(b"Content-Length: 6\r\n\r\nstolen")  # ...and the rest, later
        writer.close()

    servers = [await asyncio.start_server(double, "127.0.0.1", 0) for _ in range(3)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    try:
        async with balancer_for(tmp_path, ports) as lb:
            replies = []
            for n in range(6):
                got = await exchange(lb.url, get(f"/page-{n}"))
                replies.append(got[0])
    finally:
        for server in servers:
            server.close()
        for writer in writers:
            writer.close()
        for server in servers:
            await server.wait_closed()
    assert [(r.status, r.headers["x-echo"], r.body) for r in replies] == [
        (200, f"/page-{n}", b"mine") for n in range(6)
    ]
    assert served == 6


# --- the control plane ------------------------------------------------------------------------


async def test_the_control_plane_cannot_be_reached_from_the_public_port(tmp_path: Path) -> None:
    async with edge_estate(tmp_path) as estate, aiohttp.ClientSession() as http:
        for target in ("d1", "d2", "d3"):
            async with http.post(f"{estate.url}/lb/targets/{target}/deregister") as r:
                assert r.status == 404  # the dispatcher's filter: not a page of the site
        for path in ("/lb/status", "/lb/metrics"):
            async with http.get(f"{estate.url}{path}") as r:
                assert r.status == 404
        async with http.get(f"{estate.url}/static/after") as r:
            assert r.status == 200  # every target still in
        async with http.get(
            f"{estate.admin}/lb/status", headers={"Accept": "application/json"}
        ) as r:
            states = {t["id"]: t["state"] for t in (await r.json())["targets"]}
    assert states == {"d1": "healthy", "d2": "healthy", "d3": "healthy"}


# --- limits on the head ----------------------------------------------------------------------


async def test_heads_over_alb_limits_are_refused_and_the_connection_closed(
    tmp_path: Path,
) -> None:
    async with edge_estate(tmp_path) as estate:
        line = await exchange(estate.url, get("/static/" + "a" * 17_000))
        header = await exchange(estate.url, get("/static/x", "X-Big: " + "b" * 17_000))
        many = [f"X-H{i}: " + "c" * 7000 for i in range(10)]  # each fine, 70 KB together
        head = await exchange(estate.url, get("/static/x", *many))
        fits = await exchange(estate.url, get("/static/x", "X-Ok: " + "d" * 7000))
        refused = estate.balancer.counters.refused
        seen = estate.seen
    assert line[0].status == 414
    assert header[0].status == 431
    assert head[0].status == 431
    assert all(r[0].headers.get("connection") == "close" for r in (line, header, head))
    assert fits[0].status == 200  # below every limit: through to the publisher
    assert refused[414] == 1
    assert refused[431] == 2
    assert [path for _, path, _, _ in seen] == ["/static/x"]  # the refused never reached it


async def test_what_the_balancer_admits_every_hop_behind_it_takes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ALB admits a 16 KB request line and 16 KB headers; the dispatcher and the publisher
    behind it (aiohttp: 8 KB by default) must take them too, not fail and log them."""
    caplog.set_level(logging.WARNING)
    near = 16 * 1024 - 64
    async with edge_estate(tmp_path) as estate:
        line = await exchange(estate.url, get("/static/" + "a" * (near - 30)))
        header = await exchange(estate.url, get("/static/x", "X-Big: " + "b" * (near - 10)))
        seen = estate.seen
    assert (line[0].status, header[0].status) == (200, 200)
    assert len(seen) == 2  # both reached the publisher
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_body_over_the_limit_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    async with edge_estate(tmp_path, limits={"body": "64KB"}) as estate:
        reader, writer = await connect(estate.url)
        writer.write(
            b"POST /static/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        reply = await asyncio.wait_for(read_reply(reader), 5)
        writer.close()
        seen = estate.seen
    assert reply.status == 413
    assert reply.interim == []  # not asked for the body it would refuse
    assert seen == []


async def test_framing_attacks_stay_refused(tmp_path: Path) -> None:
    async with edge_estate(tmp_path) as estate:
        cl_te = await exchange(
            estate.url,
            b"POST /static/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /static/smuggled HTTP/1.1\r\n\r\n",
            replies=2,
        )
        double_cl = await exchange(
            estate.url,
            b"POST /static/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Content-Length: 40\r\n\r\nabcd",
        )
        two_hosts = await exchange(estate.url, get("/static/x", "Host: evil.example"))
        no_host = await exchange(estate.url, b"GET /static/x HTTP/1.1\r\n\r\n")
        seen = estate.seen
    assert [r.status for r in cl_te] == [400, 0]  # refused, then closed: nothing smuggled
    assert [r.status for r in double_cl] == [400]
    assert [r.status for r in two_hosts] == [400]
    assert [r.status for r in no_host] == [400]
    assert seen == []  # nothing smuggled through


async def test_hop_by_hop_trailers_and_upgrades_never_reach_a_target(tmp_path: Path) -> None:
    async with edge_estate(tmp_path) as estate:
        named = await exchange(
            estate.url,
            get(
                "/static/named",
                "Connection: keep-alive, X-Secret-Hop",
                "X-Secret-Hop: 1",
                "Proxy-Connection: keep-alive",
                "Keep-Alive: timeout=5",
                "TE: trailers",
            ),
        )
        chunked = await exchange(
            estate.url,
            b"POST /static/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nX-Trailer: injected\r\n\r\n",
        )
        upgrade = await exchange(
            estate.url,
            get("/static/ws", "Connection: Upgrade", "Upgrade: websocket"),
        )
        absolute = await exchange(
            estate.url,
            b"GET http://shop.example/static/absolute HTTP/1.1\r\nHost: other.example\r\n\r\n",
        )
        seen = {path: headers for _, path, headers, _ in estate.seen}
    assert named[0].status == chunked[0].status == absolute[0].status == 200
    forwarded = {k.lower() for k in seen["/static/named"]}
    assert not forwarded & {"x-secret-hop", "proxy-connection", "keep-alive", "te"}
    assert "x-trailer" not in {k.lower() for k in seen["/static/chunked"]}
    assert chunked[0].body == b"POST /static/chunked 3"
    assert upgrade[0].status == 501
    assert "/static/ws" not in seen  # refused before anything was forwarded
    assert "/static/absolute" in seen  # sent on in origin form (RFC 9112 3.2.2)


# --- time and count --------------------------------------------------------------------------


async def test_a_slowloris_client_gets_408_and_is_cut_off(tmp_path: Path) -> None:
    async with edge_estate(tmp_path, header_timeout="500ms") as estate:
        reader, writer = await connect(estate.url)
        started = time.monotonic()
        writer.write(b"GET /static/slow HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        for _ in range(3):
            await asyncio.sleep(0.2)
            writer.write(b"X-Drip: 1\r\n")  # a header now and then, as slowloris does
        closed, data = await closed_within(reader, 3)
        took = time.monotonic() - started
        writer.close()
        quiet_reader, quiet = await connect(estate.url)  # connects, sends nothing
        quiet_closed, quiet_data = await closed_within(quiet_reader, 3)
        quiet.close()
        seen = estate.seen
    assert closed
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 0.5 - TICK <= took < 0.5 + 3 * TICK  # timeouts run on a coarse clock
    assert quiet_closed
    assert quiet_data == b""  # nothing asked, nothing said: just closed
    assert seen == []


async def test_an_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    async with edge_estate(tmp_path, idle_timeout="1s") as estate:
        reader, writer = await connect(estate.url)
        writer.write(get("/static/once"))
        reply = await asyncio.wait_for(read_reply(reader), 5)
        started = time.monotonic()
        closed, data = await closed_within(reader, 4)
        took = time.monotonic() - started
        writer.close()
    assert reply.status == 200
    assert closed
    assert data == b""
    assert 1.0 - TICK <= took < 1.0 + 3 * TICK  # timeouts run on a coarse clock


async def test_connections_beyond_the_cap_get_503(tmp_path: Path) -> None:
    async with edge_estate(tmp_path, max_connections=5) as estate:
        held = [await connect(estate.url) for _ in range(5)]
        await asyncio.sleep(0.05)
        extra_reader, extra = await connect(estate.url)
        closed, data = await closed_within(extra_reader, 3)
        extra.close()
        _, one = held.pop()
        one.close()
        await asyncio.sleep(0.1)
        again = await exchange(estate.url, get("/static/after-one-left"))
        for _, writer in held:
            writer.close()
        refused = estate.balancer.counters.refused
    assert closed
    assert data.startswith(b"HTTP/1.1 503 ")
    assert again[0].status == 200
    assert refused[503] == 1


async def test_pipelined_requests_are_answered_in_order_and_buffering_is_bounded(
    tmp_path: Path,
) -> None:
    async with edge_estate(tmp_path, limits={"body": "64KB", "pipelined": 4}) as estate:
        limits = estate.balancer.config.limits
        reader, writer = await connect(estate.url)
        paths = [
            f"/static/slow-{uuid.uuid4().hex[:8]}" if i % 50 == 0 else f"/static/p{i}"
            for i in range(400)
        ]
        body = b"y" * 60_000
        posts = b"".join(
            b"POST /static/post-%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (i, len(body), body)
            for i in range(40)
        )
        writer.write(b"".join(get(p) for p in paths) + posts)
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                for connection in estate.balancer_connections():
                    most = max(most, connection.held())
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        replies = [await asyncio.wait_for(read_reply(reader), 10) for _ in range(440)]
        watcher.cancel()
        writer.close()
    assert [r.headers["x-echo"] for r in replies] == paths + [
        f"/static/post-{i}" for i in range(40)
    ]
    assert all(r.status == 200 for r in replies)
    assert 0 < most <= limits.per_connection  # never more than (pipelined + 1) x (body + head)


async def test_a_head_does_not_empty_the_next_get_through_the_edge(tmp_path: Path) -> None:
    async with edge_estate(tmp_path) as estate:
        reader, writer = await connect(estate.url)
        writer.write(b"HEAD /static/cached-page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(read_reply(reader, head=True), 5)
        session = "Cookie: " + head.headers["set-cookie"].split(";")[0]  # the same dispatcher
        writer.write(get("/static/cached-page.html", session))
        first = await asyncio.wait_for(read_reply(reader), 5)
        writer.write(get("/static/cached-page.html", session))
        second = await asyncio.wait_for(read_reply(reader), 5)
        writer.close()
    assert head.status == 200
    assert first.body == second.body == b"GET /static/cached-page.html 0"
    assert second.headers["x-cache"] == "HIT"
