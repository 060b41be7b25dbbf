"""What the dispatcher caches, as the AEM dispatcher does: Experience League KB ka-17497
("When does the Dispatcher cache a response?", dispatcher 4.3.3) and the dispatcher's
configuration docs (docs/world.md). Each rule is one function, tested alone
(tests/lb/dispatcher/test_rules.py) and against a table of requests and replies.

A request may be cached only if all of these hold:

* the method is GET or HEAD;
* the path has a file extension, and nothing after it: ``/content/test.html`` yes,
  ``/content/test``, ``/content/test.html/`` and ``/content/test.html/foo.jpg`` no;
* ``/cache/rules`` allow the path (the last rule whose glob matches decides; none: no);
* no ``Authorization`` header and no login-token cookie, in any of the request's ``Cookie``
  lines (unless ``/allowAuthorized``);
* no query string, unless every parameter in it is one ``/ignoreUrlParams`` ignores.

A reply is cached only if its status is 200, it has no ``Dispatcher: no-cache`` header, and
(stricter than the KB, as the edge facts of docs/edge.md say) no ``Cache-Control: no-store``,
``no-cache`` or ``private`` and no ``Set-Cookie``. With ``/enableTTL`` it expires as its
``Cache-Control: max-age`` or ``Expires`` says; a ``max-age`` that is not a number, zero, or an
``Expires`` that is not a date or lies in the past means not cached (not an error). Without a
lifetime, or without ``/enableTTL``, a cached file lives until a flush makes it stale.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy, MultiMapping

from core.topology import DispatcherCacheConfig

NOT_CACHED = ("no-store", "no-cache", "private")
# A name, Sling selectors if any (``en.model.json``), an extension.
_EXTENSION = re.compile(r"^[^.]+(\.[A-Za-z0-9_-]+)*\.[A-Za-z0-9]+$")


@dataclass(frozen=True, slots=True)
class Decision:
    cache: bool
    reason: str = ""  # why not, for the X-Cache-Info header and the tests
    lifetime: float | None = None  # seconds; None: until a flush (no time-based expiry)


CACHE = Decision(True)


def request_decision(
    method: str,
    path: str,
    query_string: str,
    headers: MultiMapping[str] | CIMultiDictProxy[str],
    config: DispatcherCacheConfig,
    login_cookie: str,
) -> Decision:
    """Whether a request may be answered from, and stored in, the cache."""
    for decision in (
        _enabled(config),
        _method(method),
        _extension(path),
        _rules(path, config),
        _authorized(headers, config, login_cookie),
        _query(query_string, config),
    ):
        if not decision.cache:
            return decision
    return CACHE


def reply_decision(
    status: int,
    headers: Mapping[str, str] | MultiMapping[str],
    config: DispatcherCacheConfig,
    now_wall: float,
) -> Decision:
    """Whether a reply may be stored, and for how long."""
    if status != 200:
        return Decision(False, f"status {status}")
    if any(v.strip().lower() == "no-cache" for v in _all(headers, "Dispatcher")):
        return Decision(False, "Dispatcher: no-cache")
    directives = _directives(headers)
    refused = [d for d in NOT_CACHED if d in directives]
    if refused:
        return Decision(False, f"Cache-Control: {refused[0]}")
    if _all(headers, "Set-Cookie"):
        return Decision(False, "Set-Cookie")
    if not config.enable_ttl:
        return CACHE
    return _lifetime(directives, _all(headers, "Expires"), now_wall)


def _enabled(config: DispatcherCacheConfig) -> Decision:
    return CACHE if config.enabled else Decision(False, "cache off")


def _method(method: str) -> Decision:
    return CACHE if method in ("GET", "HEAD") else Decision(False, f"method {method}")


def _extension(path: str) -> Decision:
    """An extension on the last segment, and no dot before it (that would be a suffix after
    an extension, as in ``/content/test.html/foo.jpg``)."""
    segments = path.split("/")
    last = segments[-1]
    if not _EXTENSION.match(last):
        return Decision(False, "no file extension" if "." not in path else "not a plain file")
    if any("." in segment for segment in segments[:-1]):
        return Decision(False, "a suffix after the extension")
    return CACHE


def _rules(path: str, config: DispatcherCacheConfig) -> Decision:
    verdict = None
    for rule in config.rules:
        if fnmatch.fnmatchcase(path, rule.glob):  # the dispatcher's * crosses "/"
            verdict = rule.type
    if verdict == "allow":
        return CACHE
    return Decision(False, "denied by /cache/rules")


def _authorized(
    headers: MultiMapping[str] | CIMultiDictProxy[str],
    config: DispatcherCacheConfig,
    login_cookie: str,
) -> Decision:
    if config.allow_authorized:
        return CACHE
    if _all(headers, "Authorization"):
        return Decision(False, "Authorization header")
    if any(name == login_cookie for name in _cookie_names(_all(headers, "Cookie"))):
        return Decision(False, f"{login_cookie} cookie")
    return CACHE


def _query(query_string: str, config: DispatcherCacheConfig) -> Decision:
    if not query_string:
        return CACHE
    names = [name for name, _ in parse_qsl(query_string, keep_blank_values=True)] or [query_string]
    kept = [
        n for n in names if not any(fnmatch.fnmatchcase(n, g) for g in config.ignore_url_params)
    ]
    return Decision(False, "a query string") if kept else CACHE


def _lifetime(directives: dict[str, str | None], expires: list[str], now_wall: float) -> Decision:
    if "max-age" in directives:
        value = directives["max-age"] or ""
        if not value.isdigit() or int(value) == 0:
            return Decision(False, f"max-age {value!r}")
        return Decision(True, lifetime=float(value))
    if expires:
        try:
            when = parsedate_to_datetime(expires[0]).timestamp()
        except (TypeError, ValueError, IndexError):
            return Decision(False, "Expires not a date")
        if when <= now_wall:
            return Decision(False, "Expires in the past")
        return Decision(True, lifetime=when - now_wall)
    return CACHE


def _all(headers: Mapping[str, str] | MultiMapping[str], name: str) -> list[str]:
    """Every value of header ``name`` (a header may come more than once)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = headers.get(name)
    return [] if value is None else [value]


def _directives(headers: Mapping[str, str] | MultiMapping[str]) -> dict[str, str | None]:
    """``Cache-Control`` directives from every such line, lower-cased, with their values."""
    out: dict[str, str | None] = {}
    for line in _all(headers, "Cache-Control"):
        for part in line.split(","):
            name, sep, value = part.strip().partition("=")
            if name:
                out.setdefault(name.strip().lower(), value.strip().strip('"') if sep else None)
    return out


def _cookie_names(lines: Iterable[str]) -> list[str]:
    return [pair.split("=", 1)[0].strip() for line in lines for pair in line.split(";")]
