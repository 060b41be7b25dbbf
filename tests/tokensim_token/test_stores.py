"""Guards found by mutation testing and kept as tests of behaviour: stores."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from tokensim_token.coordination import SharedToken
from tokensim_token.file_store import FileStore
from tokensim_token.keyring import Keyring
from tokensim_token.sealing import MAX_SEALED, seal

NOW = 1_790_000_000.0


class FlakyStore(FileStore):
    """The file store, failing every call while ``down`` (a Redis server gone away)."""

    down = False

    async def get(self) -> bytes | None:
        if self.down:
            raise OSError("store down")
        return await super().get()


def test_the_shared_stores_files_are_private(tmp_path: Path) -> None:
    """The sealed cluster token, the lease and the lock: 0600, whatever the umask."""
    old = os.umask(0o022)
    try:
        store = FileStore(tmp_path / "shared", wall_clock=lambda: NOW)
        asyncio.run(store.put(seal(Keyring.generate(), b"a-token", {"scope": "cluster"})))
        assert asyncio.run(store.try_lease("p1", 60))
    finally:
        os.umask(old)
    files = sorted((tmp_path / "shared").iterdir())
    assert [f.name for f in files] == ["shared-lease.json", "shared-token.sealed", "shared.lock"]
    for file in files:
        assert file.stat().st_mode & 0o777 == 0o600, file.name
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o700  # and the folder made for them


async def test_a_peer_removes_only_the_token_it_was_refused_and_leases_exclude_each_other(
    tmp_path: Path,
) -> None:
    now = [NOW]
    store = FileStore(tmp_path / "shared", wall_clock=lambda: now[0])
    await store.put(b"old sealed token")
    await store.put(b"new sealed token")  # another node refreshed meanwhile
    await store.remove_if(b"old sealed token")  # a late 401 on the old one
    assert await store.get() == b"new sealed token"
    await store.remove_if(b"new sealed token")
    assert await store.get() is None
    await store.remove_if(b"new sealed token")  # already gone: nothing to do, no error

    assert await store.try_lease("p1", 15.0)
    assert not await store.try_lease("p2", 15.0)  # held by p1
    assert await store.try_lease("p1", 15.0)  # p1 renews its own
    now[0] += 14.9
    assert not await store.try_lease("p2", 15.0)
    now[0] += 0.2  # p1's renewal has run out: a crashed holder blocks the others no longer
    assert await store.try_lease("p2", 15.0)
    await store.release_lease("p1")  # not p1's any more: p2 keeps it
    assert not await store.try_lease("p3", 15.0)
    await store.release_lease("p2")
    assert await store.try_lease("p3", 15.0)


async def test_the_file_store_reads_no_more_than_a_sealed_token_can_be(tmp_path: Path) -> None:
    store = FileStore(tmp_path, wall_clock=lambda: NOW)
    await store.put(b"x" * (3 * MAX_SEALED))  # what a full disk or an attacker may leave
    blob = await store.get()
    assert blob is not None
    assert len(blob) == MAX_SEALED + 1  # enough to know it is too long, never the whole file
    await store.put(b"y" * MAX_SEALED)
    assert await store.get() == b"y" * MAX_SEALED  # the longest that can be valid, whole


async def test_each_store_outage_is_logged_once_and_its_end_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tokensim_token.coordination")
    store = FlakyStore(tmp_path, wall_clock=lambda: NOW)
    shared = SharedToken(store, Keyring.generate(), owner="p1", lease_ttl=30)
    for down in (True, True, False, False, True, True, False):
        store.down = down
        await shared.load()
    lines = [r.getMessage().split(" (")[0] for r in caplog.records]
    assert lines == [
        "shared token store unavailable",
        "shared token store answers again",
        "shared token store unavailable",
        "shared token store answers again",
    ]
