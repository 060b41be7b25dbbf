"""The dispatcher's cache of publisher replies: TTL-based, invalidated like the flush agent.

Entries are keyed by method and path. Only GET replies are stored (a HEAD reply has no body:
stored, it would answer the next GET with an empty page); a HEAD may be answered from the GET
entry of its path.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from multidict import CIMultiDict


@dataclass(frozen=True, slots=True)
class CachedReply:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    stored_at: float


class ReplyCache:
    def __init__(self, *, ttl: float, clock: Callable[[], float], max_entries: int = 10_000):
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], CachedReply] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, method: str, path: str) -> CachedReply | None:
        """The entry that may answer ``method path``: GET's, for a GET or a HEAD."""
        if method not in ("GET", "HEAD"):
            return None
        key = ("GET", path)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.stored_at >= self._ttl:
            del self._entries[key]
            return None
        return entry

    def put(
        self, method: str, path: str, status: int, headers: CIMultiDict[str], body: bytes
    ) -> None:
        """Keep a reply to ``method path``; only GET replies are kept."""
        if method != "GET":
            return
        key = (method, path)
        self._entries[key] = CachedReply(status, headers, body, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self, prefix: str | None = None) -> int:
        """Drop entries under ``prefix`` (all when None); return how many were dropped."""
        doomed = [k for k in self._entries if prefix is None or k[1].startswith(prefix)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._entries)
