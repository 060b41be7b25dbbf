"""The dispatcher's cache of publisher replies, with the AEM dispatcher's two ways a cached file
goes out of date: its own lifetime (``/enableTTL``: the reply's ``max-age`` or ``Expires``) and
a flush, which removes the flushed path and touches the ``.stat`` files from the docroot down
to ``/statfileslevel`` along it, so that every cached file ``/invalidate`` names under them is
stale (docs/world.md).

Entries are keyed by path. Only GET replies are stored (a HEAD reply has no body: stored, it
would answer the next GET with an empty page); a HEAD may be answered from the GET entry.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from multidict import CIMultiDict

from core.topology import DispatcherCacheConfig


@dataclass(frozen=True, slots=True)
class CachedReply:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    stored: int  # the cache's tick when it was stored (a .stat file touched later wins)
    expires_at: float | None  # on the cache's clock; None: until a flush


class ReplyCache:
    def __init__(self, config: DispatcherCacheConfig, *, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._entries: OrderedDict[str, CachedReply] = OrderedDict()
        self._stat: dict[str, int] = {}  # folder -> the tick its .stat file was touched
        self._tick = 0

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    def get(self, method: str, path: str) -> CachedReply | None:
        """The entry that may answer ``method path`` (GET's, for a GET or a HEAD), if it has
        neither expired nor been made stale by a flush."""
        if method not in ("GET", "HEAD"):
            return None
        entry = self._entries.get(path)
        if entry is None:
            return None
        expired = entry.expires_at is not None and self._clock() >= entry.expires_at
        if expired or self._stale(path, entry):
            del self._entries[path]
            return None
        return entry

    def put(
        self,
        method: str,
        path: str,
        status: int,
        headers: CIMultiDict[str],
        body: bytes,
        lifetime: float | None,
    ) -> None:
        """Keep a reply to ``method path`` for ``lifetime`` seconds (None: until a flush)."""
        if method != "GET":
            return
        self._tick += 1
        expires = None if lifetime is None else self._clock() + lifetime
        self._entries[path] = CachedReply(status, headers, body, self._tick, expires)
        self._entries.move_to_end(path)
        while len(self._entries) > self._config.max_entries:
            self._entries.popitem(last=False)

    def flush(self, handle: str | None = None) -> int:
        """A flush agent's invalidation of ``handle`` (None: everything). Removes the flushed
        path's files and touches the ``.stat`` files along it; returns how many files were
        removed."""
        if handle is None:
            dropped = len(self._entries)
            self._entries.clear()
            return dropped
        handle = handle.rstrip("/") or "/"
        doomed = [
            p for p in self._entries if p == handle or p.startswith((handle + ".", handle + "/"))
        ]
        for path in doomed:
            del self._entries[path]
        self._tick += 1
        for folder in _folders(handle)[: self._config.statfileslevel + 1]:
            self._stat[folder] = self._tick
        return len(doomed)

    def _stale(self, path: str, entry: CachedReply) -> bool:
        """Whether the .stat file that governs ``path`` was touched after it was stored."""
        if not any(
            fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], g) for g in self._config.invalidate
        ):
            return False
        folders = _folders(path)[:-1]  # the path's own folder and its ancestors
        governing = folders[min(len(folders) - 1, self._config.statfileslevel)]
        return self._stat.get(governing, 0) > entry.stored

    def __len__(self) -> int:
        return len(self._entries)


def _folders(path: str) -> list[str]:
    """``/a/b/c.html`` -> ``["/", "/a", "/a/b", "/a/b/c.html"]``: each ancestor, by depth."""
    parts = [p for p in path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
