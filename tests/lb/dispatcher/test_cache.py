"""Guards found by mutation testing and kept as tests of behaviour: cache."""

from __future__ import annotations

from multidict import CIMultiDict

from lb.dispatcher.cache import ReplyCache


def test_the_cache_keeps_its_newest_entries_up_to_its_bound() -> None:
    cache = ReplyCache(ttl=60, clock=lambda: 0.0, max_entries=3)
    headers = CIMultiDict({"Content-Type": "text/html"})
    for path in ("/a", "/b", "/c"):
        cache.put("GET", path, 200, headers, path.encode())
    assert len(cache) == 3  # full, nothing dropped yet
    cache.put("GET", "/a", 200, headers, b"/a again")  # stored again: now the newest
    cache.put("GET", "/d", 200, headers, b"/d")
    assert len(cache) == 3
    assert cache.get("GET", "/b") is None  # the oldest went
    kept = cache.get("HEAD", "/a")
    assert kept is not None
    assert (kept.body, kept.headers["Content-Type"]) == (b"/a again", "text/html")
    assert cache.get("GET", "/c") is not None
    assert cache.get("GET", "/d") is not None


def test_a_cached_reply_is_fresh_while_its_age_is_below_the_ttl() -> None:
    # RFC 9111 4.2: fresh while the freshness lifetime is greater than the age; at an age of
    # exactly the ttl the entry is stale and the publisher is asked again.
    now = [100.0]
    cache = ReplyCache(ttl=60, clock=lambda: now[0])
    cache.put("GET", "/", 200, CIMultiDict(), b"home")
    now[0] = 159.999
    assert cache.get("GET", "/") is not None
    now[0] = 160.0
    assert cache.get("GET", "/") is None
    assert len(cache) == 0  # and the stale entry is gone, not kept forever
