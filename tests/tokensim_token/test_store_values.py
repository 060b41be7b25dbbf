"""Values in the shared store are not believed as written: the store is shared with whatever
else can write to it. Both stores, the file store and a real Redis: a lease that expires too
far ahead, an oversized or malformed record, and leases renewed, released or replaced only by
their owner."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from tokensim_token.file_store import FileStore
from tokensim_token.files import write_atomic
from tokensim_token.redis_store import RedisStore
from tokensim_token.sealing import MAX_SEALED
from tokensim_token.secrets import Secret

from tests.support.world import REDIS_PASSWORD

NOW = 1_790_000_000.0
LEASE = 15.0

Store = FileStore | RedisStore


class Planted:
    """Writes raw values where the store keeps its lease and token (what another writer of
    the same folder or server could leave)."""

    def __init__(self, kind: str, where: Path | str, prefix: str) -> None:
        self.kind, self.where, self.prefix = kind, where, prefix

    async def lease(self, raw: bytes) -> None:
        if isinstance(self.where, Path):
            write_atomic(self.where / "shared-lease.json", raw)
        else:
            client = redis.Redis.from_url(self.where, password=REDIS_PASSWORD)
            await client.set(f"{self.prefix}:lease", raw, px=3_600_000)
            await client.aclose()

    async def token(self, raw: bytes) -> None:
        if isinstance(self.where, Path):
            write_atomic(self.where / "shared-token.sealed", raw)
        else:
            client = redis.Redis.from_url(self.where, password=REDIS_PASSWORD)
            await client.set(f"{self.prefix}:token", raw)
            await client.aclose()


@pytest.fixture(params=["file", "redis"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Planted, list[float]]]:
    now = [NOW]
    prefix = f"t{uuid.uuid4().hex[:12]}"
    made: Store
    if request.param == "file":
        folder = tmp_path / "shared"
        made = FileStore(folder, wall_clock=lambda: now[0])
        planted = Planted("file", folder, prefix)
    else:
        url = request.getfixturevalue("redis_server")
        made = RedisStore(
            url,
            prefix=prefix,
            wall_clock=lambda: now[0],
            password=Secret(REDIS_PASSWORD),
            timeout=10.0,
        )
        planted = Planted("redis", url, prefix)
    yield made, planted, now
    await made.close()


async def test_a_lease_expiring_far_ahead_is_treated_as_absent_and_said_once(
    store: tuple[Store, Planted, list[float]], caplog: pytest.LogCaptureFixture
) -> None:
    made, planted, _now = store
    caplog.set_level(logging.WARNING)
    await planted.lease(
        json.dumps({"owner": "intruder", "expires": NOW + 10 * 365 * 86400}).encode()
    )
    assert await made.try_lease("p1", LEASE)  # would otherwise stop every refresh for years
    assert not await made.try_lease("p2", LEASE)  # and p1's own lease is a real one
    await planted.lease(json.dumps({"owner": "intruder", "expires": NOW + 1e300}).encode())
    assert await made.try_lease("p2", LEASE)
    said = [r for r in caplog.records if "treated as absent" in r.getMessage()]
    assert len(said) == 1


async def test_a_lease_a_little_ahead_is_a_peer_with_another_clock(
    store: tuple[Store, Planted, list[float]],
) -> None:
    made, planted, _now = store
    await planted.lease(json.dumps({"owner": "p9", "expires": NOW + 1.5 * LEASE}).encode())
    assert not await made.try_lease("p1", LEASE)  # within twice the lease time: believed


@pytest.mark.parametrize(
    "raw",
    [
        b"{" * 10_000,
        b'{"owner": "p9", "expires": "' + b"9" * 100_000 + b'"}',
        b"[1, 2]",
        b'{"owner": 7, "expires": 1e400}',
        b'{"owner": "p9"}',
        b"\xff\xfe not json",
    ],
    ids=["deep", "oversized", "list", "wrong-types", "no-expiry", "binary"],
)
async def test_a_record_that_is_not_a_lease_is_absent(
    store: tuple[Store, Planted, list[float]], raw: bytes
) -> None:
    made, planted, _now = store
    await planted.lease(raw)
    assert await made.try_lease("p1", LEASE)


async def test_only_the_owner_renews_releases_or_replaces_its_lease(
    store: tuple[Store, Planted, list[float]],
) -> None:
    made, _planted, now = store
    assert await made.try_lease("p1", LEASE)
    assert not await made.try_lease("p2", LEASE)  # no replacement while it runs
    await made.release_lease("p2")  # not p2's: nothing happens
    assert not await made.try_lease("p3", LEASE)
    now[0] += LEASE - 1
    assert await made.try_lease("p1", LEASE)  # the owner renews
    now[0] += LEASE - 1
    assert not await made.try_lease("p2", LEASE)  # the renewal holds past the first expiry
    await made.release_lease("p1")
    assert await made.try_lease("p2", LEASE)  # released by its owner: free


async def test_the_token_is_read_with_a_size_bound(
    store: tuple[Store, Planted, list[float]],
) -> None:
    made, planted, _now = store
    await planted.token(b"x" * (4 * MAX_SEALED))
    blob = await made.get()
    assert blob is not None
    assert len(blob) == MAX_SEALED + 1
    assert await made.get() is not None
    await planted.token(b"")
    assert await made.get() in (None, b"")


async def test_a_redis_without_a_password_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    made = RedisStore(
        "redis://127.0.0.1:1/0", prefix="x", wall_clock=lambda: NOW, password=None, timeout=1.0
    )
    await made.close()
    said = [r.getMessage() for r in caplog.records if "no password" in r.getMessage()]
    assert said == [
        "the shared store redis://127.0.0.1:1 has no password: anything that reaches it can "
        "change the lease and the sealed token (set token.store.password_env)"
    ]
