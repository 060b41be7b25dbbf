"""The dispatcher's cache: its bound, a reply's lifetime, and flushes with .stat files."""

from __future__ import annotations

from multidict import CIMultiDict

from core.topology import DispatcherCacheConfig
from lb.dispatcher.cache import ReplyCache


def test_the_cache_keeps_its_newest_entries_up_to_its_bound() -> None:
    cache = ReplyCache(DispatcherCacheConfig(max_entries=3), clock=lambda: 0.0)
    headers = CIMultiDict({"Content-Type": "text/html"})
    for path in ("/a", "/b", "/c"):
        cache.put("GET", path, 200, headers, path.encode(), 60)
    assert len(cache) == 3  # full, nothing dropped yet
    cache.put("GET", "/a", 200, headers, b"/a again", 60)  # stored again: now the newest
    cache.put("GET", "/d", 200, headers, b"/d", 60)
    assert len(cache) == 3
    assert cache.get("GET", "/b") is None  # the oldest went
    kept = cache.get("HEAD", "/a")
    assert kept is not None
    assert (kept.body, kept.headers["Content-Type"]) == (b"/a again", "text/html")
    assert cache.get("GET", "/c") is not None
    assert cache.get("GET", "/d") is not None


def test_a_cached_reply_is_fresh_while_its_age_is_below_its_lifetime() -> None:
    # RFC 9111 4.2: fresh while the freshness lifetime is greater than the age; at an age of
    # exactly the lifetime the entry is stale and the publisher is asked again.
    now = [100.0]
    cache = ReplyCache(DispatcherCacheConfig(), clock=lambda: now[0])
    cache.put("GET", "/", 200, CIMultiDict(), b"home", 60)
    now[0] = 159.999
    assert cache.get("GET", "/") is not None
    now[0] = 160.0
    assert cache.get("GET", "/") is None
    assert len(cache) == 0  # and the stale entry is gone, not kept forever


def test_a_reply_without_a_lifetime_lives_until_a_flush_touches_its_stat_file() -> None:
    now = [0.0]
    cache = ReplyCache(DispatcherCacheConfig(statfileslevel=2), clock=lambda: now[0])
    pages = ("/content/site/en.html", "/content/site/en/top-pages.json", "/content/other/x.html")
    for path in pages:
        cache.put("GET", path, 200, CIMultiDict(), b"x", None)
    now[0] = 10 * 86_400.0
    assert all(cache.get("GET", p) is not None for p in pages)  # no time-based expiry
    # A flush of the widget's data removes it and touches /.stat, /content/.stat and
    # /content/site/.stat: what lies under /content/site goes stale; /content/other keeps.
    assert cache.flush("/content/site/en/top-pages") == 1
    assert cache.get("GET", "/content/site/en/top-pages.json") is None
    assert cache.get("GET", "/content/site/en.html") is None
    assert cache.get("GET", "/content/other/x.html") is not None


def test_with_statfileslevel_0_any_flush_makes_every_invalidated_type_stale() -> None:
    cache = ReplyCache(DispatcherCacheConfig(statfileslevel=0), clock=lambda: 0.0)
    for path in ("/content/a.html", "/content/b/c.html", "/static/site.css"):
        cache.put("GET", path, 200, CIMultiDict(), b"x", None)
    cache.flush("/content/b")
    assert cache.get("GET", "/content/a.html") is None  # /.stat is newer than it
    assert cache.get("GET", "/static/site.css") is not None  # not an /invalidate type
    cache.put("GET", "/content/a.html", 200, CIMultiDict(), b"new", None)
    assert cache.get("GET", "/content/a.html") is not None  # stored after the flush
