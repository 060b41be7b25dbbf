"""Fixtures every test may use: an exit stack, an HTTP session, a real Redis and the two
shared stores. Helpers are imported from :mod:`tests.support`, never from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from tokensim_token.redis_store import RedisStore

from harness.estate.processes import free_ports
from tests.support.redis import REDIS_CALLS, dies_with_this_process, held_during_io
from tests.support.world import REDIS_PASSWORD


def pytest_configure(config: pytest.Config) -> None:
    # Some tests hold hundreds of connections in this process (200 clients through an
    # in-process balancer): an ordinary user's soft limit of 1,024 descriptors is not enough,
    # so raise it to the hard limit, as any server process may.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    # looptime asks the policy for the current loop before every test, sync ones too. Until a
    # loop has been set, Python 3.11 creates one there that nobody closes, and warnings-as-
    # errors then fails whichever test is running when it is collected (pytest-asyncio #724).
    # Saying "no current loop" once makes that call raise instead, which looptime expects.
    asyncio.set_event_loop(None)


@pytest.fixture
async def stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as s:
        yield s


@pytest.fixture
async def http(stack: contextlib.AsyncExitStack) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1e6))
    stack.push_async_callback(session.close)
    return session


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port for the whole session; tests use their own prefix.

    Skipped when redis-server is not installed, unless TOKENSIM_REQUIRE_REDIS is set (CI sets
    it after installing the Debian package, so there the tests cannot silently skip).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("TOKENSIM_REQUIRE_REDIS"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    (port,) = free_ports(1)
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            *dies_with_this_process(),
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--requirepass",  # as the harness runs it (--store redis): a client must say it
            REDIS_PASSWORD,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # redis-server logs to stdout; it says when it accepts connections (or exits: EOF).
        assert process.stdout is not None
        for line in process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server exited with {process.wait()} before accepting connections")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.communicate(timeout=10)  # reads what it logged since (little) and closes the pipe


@pytest.fixture(params=["file", "redis"])
def store_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``token`` keys for each shared store: the embedded file store and a real Redis."""
    if request.param == "file":
        return {"store": {"kind": "file"}}
    url = request.getfixturevalue("redis_server")
    for name in REDIS_CALLS:
        monkeypatch.setattr(RedisStore, name, held_during_io(getattr(RedisStore, name)))
    prefix = f"t{uuid.uuid4().hex[:12]}"
    return {"store": {"kind": "redis", "url": url, "key_prefix": prefix}}
