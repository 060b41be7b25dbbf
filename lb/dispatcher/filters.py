"""The dispatcher's /filter: an allow-list of path globs, applied to the path as it arrived.

Only a path already in its plain, normal form can pass: any percent-encoding (none of the
allowed paths needs one), backslash, ``//``, ``/./`` or ``/../`` is refused before matching, so
``/api/../status``, ``/%2e%2e/status`` or ``/api%2Ftop-pages`` never reach the publisher. So is
any character outside letters, digits and ``/ . _ ~ -``: a ``;`` (``/static/..;/status`` is a
traversal on Sling and other Java back ends, which drop ``;`` parameters after the dispatcher
has looked), a ``#``, a space.

In a glob, ``*`` matches within one path segment and ``**`` across segments: ``/static/*``
allows ``/static/site.css`` but not ``/static/a/b``. (AEM's dispatcher lets ``*`` cross ``/``;
an allow-list is safer when each wildcard says how far it reaches.) Matching is
case-sensitive, as paths in AEM are: ``/STATUS`` matches nothing allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PLAIN = re.compile(r"^(/[A-Za-z0-9._~-]*)+$")
_BAD_SEGMENTS = re.compile(r"(//|/\./|/\.\./|/\.\.?$)")


class PathFilter:
    def __init__(self, allow: Iterable[str]) -> None:
        self._globs = tuple(allow)
        self._patterns = tuple(compile_glob(glob) for glob in self._globs)

    def allows(self, raw_path: str) -> bool:
        """Whether ``raw_path`` (undecoded, query string excluded) may reach the publisher."""
        path = plain_path(raw_path)
        return path is not None and any(p.fullmatch(path) for p in self._patterns)


def compile_glob(glob: str) -> re.Pattern[str]:
    """``*`` within a segment, ``**`` across segments, ``?`` one character (not ``/``)."""
    parts = re.split(r"(\*\*|\*|\?)", glob)
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part) or re.escape(part) for part in parts))


def plain_path(raw_path: str) -> str | None:
    """The path if it is in plain normal form, else None."""
    if not _PLAIN.match(raw_path) or _BAD_SEGMENTS.search(raw_path):
        return None
    return raw_path
