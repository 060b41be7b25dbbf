"""The embedded shared store: files in a folder every node can reach, with an OS lock.

Needs no server: enough for nodes on one machine (or a shared volume). The lease is a small
JSON file ``{"owner", "expires"}`` changed only under ``flock``; an expired lease is free, so a
crashed holder blocks the others for at most the lease's lifetime.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from tokensim_token.files import make_private_folder, write_atomic
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.sealing import MAX_SEALED


class FileStore:
    def __init__(self, folder: Path, *, wall_clock: Callable[[], float]) -> None:
        make_private_folder(folder)
        self._token = folder / "shared-token.sealed"
        self._lease = folder / "shared-lease.json"
        self._lock = folder / "shared.lock"
        self._wall_clock = wall_clock

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def get(self) -> bytes | None:
        try:
            with self._token.open("rb") as handle:
                return handle.read(MAX_SEALED + 1)  # enough to tell: never a huge read
        except FileNotFoundError:
            return None

    async def put(self, blob: bytes) -> None:
        write_atomic(self._token, blob, mode=0o600)

    async def remove_if(self, blob: bytes) -> None:
        with self._locked():
            if await self.get() == blob:
                self._token.unlink(missing_ok=True)

    async def try_lease(self, owner: str, ttl: float) -> bool:
        with self._locked():
            holder = self._holder()
            now = self._wall_clock()
            if holder is not None and holder[0] != owner and now < holder[1]:
                return False
            write_atomic(self._lease, json.dumps({"owner": owner, "expires": now + ttl}).encode())
            return True

    async def release_lease(self, owner: str) -> None:
        with self._locked():
            holder = self._holder()
            if holder is not None and holder[0] == owner:
                self._lease.unlink(missing_ok=True)

    async def close(self) -> None:
        return None

    def _holder(self) -> tuple[str, float] | None:
        try:
            document = parse_json_object(self._lease.read_bytes(), max_bytes=4096)
            return str(document["owner"]), float(document["expires"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
