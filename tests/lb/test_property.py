"""No response ever reaches the wrong client: 200 keep-alive clients, random paths, methods
and ``Expect`` headers, for 10 s, through the built-in balancer and real dispatchers.

Each request's path is unique and the echo publishers answer with it (``X-Echo``), so a
response that belongs to another request cannot go unnoticed. This is the property the
``Expect: 100-continue`` desync broke (a GET's 100 taken as its reply, its 200 handed to the
next user on that pooled connection)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.edge import edge_estate, read_reply

CLIENTS = 200
SECONDS = 10.0


@pytest.mark.long  # 200 clients for 10 s of real time
@pytest.mark.timeout(120)
async def test_no_response_reaches_a_client_that_did_not_ask_for_it(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    async with edge_estate(tmp_path, timeout="5s") as estate:
        host, port = estate.url.removeprefix("http://").split(":")
        deadline = time.monotonic() + SECONDS

        async def client(n: int) -> None:
            rng = random.Random(n)
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                i = 0
                while time.monotonic() < deadline:
                    i += 1
                    method = rng.choice(["GET", "GET", "GET", "HEAD", "POST"])
                    slow = "slow-" if rng.random() < 0.02 else ""
                    path = f"/static/{slow}c{n}-{i}-{rng.getrandbits(32):08x}"
                    body = b"b" * rng.choice([0, 10, 2000]) if method == "POST" else b""
                    headers = ["Host: www.example.com"]
                    if rng.random() < 0.5:
                        headers.append("Expect: 100-continue")
                    if method == "POST":
                        headers.append(f"Content-Length: {len(body)}")
                    head = "\r\n".join([f"{method} {path} HTTP/1.1", *headers, "", ""])
                    writer.write(head.encode() + body)
                    try:
                        reply = await asyncio.wait_for(
                            read_reply(reader, head=method == "HEAD"), 10
                        )
                    except TimeoutError:  # its response went elsewhere, or never came
                        outcomes["no response within 10 s"] += 1
                        return
                    if reply.status != 200:
                        outcomes[f"status {reply.status}"] += 1
                    elif reply.headers.get("x-echo") != path:
                        outcomes["someone else's response"] += 1
                    else:
                        outcomes["own response"] += 1
                    if reply.status <= 0:
                        return
            finally:
                writer.close()

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    assert outcomes["someone else's response"] == 0, outcomes
    assert set(outcomes) == {"own response"}, outcomes
    assert outcomes["own response"] >= CLIENTS * 5  # it did run under load
