"""The embedded shared store: files in a folder every node can reach, with an OS lock.

Needs no server: enough for nodes on one machine (or a shared volume). The lease is a small
JSON file ``{"owner", "expires"}`` changed only under ``flock``; an expired lease is free, so a
crashed holder blocks the others for at most the lease's lifetime. A lease record that is too
large, not a lease, or expires further ahead than a lease can (twice its lease time, room for the
nodes' clocks to differ) is treated as absent (said once).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from tokensim_token.files import make_private_folder, open_own_file, read_own_file, write_atomic
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.sealing import MAX_SEALED

logger = logging.getLogger(__name__)

MAX_LEASE = 4096  # bytes: a lease record is a few dozen


class FileStore:
    def __init__(self, folder: Path, *, wall_clock: Callable[[], float]) -> None:
        make_private_folder(folder)
        self._token = folder / "shared-token.sealed"
        self._lease = folder / "shared-lease.json"
        self._lock = folder / "shared.lock"
        self._wall_clock = wall_clock
        self._said_bad_lease = False

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = open_own_file(self._lock, create=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def get(self) -> bytes | None:
        return read_own_file(self._token, MAX_SEALED)  # enough to tell: never a huge read

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
            if holder is not None and holder[1] > now + 2 * ttl:  # room for clock skew
                self._say_bad_lease(
                    f"expiring {holder[1] - now:.0f} s ahead (a lease: {ttl:.0f} s)"
                )
                holder = None
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
            data = read_own_file(self._lease, MAX_LEASE)
            if data is None:
                return None
            document = parse_json_object(data, max_bytes=MAX_LEASE)
            owner, expires = document["owner"], float(document["expires"])
            if not isinstance(owner, str) or not math.isfinite(expires):
                raise TypeError("not a lease")
            return owner, expires
        except (ValueError, KeyError, TypeError):
            self._say_bad_lease("too large or not a lease")
            return None

    def _say_bad_lease(self, why: str) -> None:
        if not self._said_bad_lease:
            self._said_bad_lease = True
            logger.warning("the shared store's lease record is %s: treated as absent", why)
