"""The dispatcher's /filter: an allow-list of path globs, applied to the path as it arrived.

Only a path already in its plain, normal form can pass: any percent-encoding (none of the
allowed paths needs one), backslash, ``//``, ``/./`` or ``/../`` is refused before matching, so
``/api/../status``, ``/%2e%2e/status`` or ``/api%2Ftop-pages`` never reach the publisher.
Matching is case-sensitive, as paths in AEM are: ``/STATUS`` matches nothing allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

_BAD_SEGMENTS = re.compile(r"(//|/\./|/\.\./|/\.\.?$|\\)")


class PathFilter:
    def __init__(self, allow: Iterable[str]) -> None:
        self._globs = tuple(allow)

    def allows(self, raw_path: str) -> bool:
        """Whether ``raw_path`` (undecoded, query string excluded) may reach the publisher."""
        path = plain_path(raw_path)
        return path is not None and any(fnmatchcase(path, glob) for glob in self._globs)


def plain_path(raw_path: str) -> str | None:
    """The path if it is in plain normal form, else None."""
    if not raw_path.startswith("/") or "%" in raw_path or _BAD_SEGMENTS.search(raw_path):
        return None
    return raw_path
