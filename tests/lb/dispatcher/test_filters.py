"""Guards found by mutation testing and kept as tests of behaviour: filters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lb.dispatcher.filters import PathFilter

SEGMENT_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-")


@settings(max_examples=200, deadline=None)
@given(one=SEGMENT_CHARS, more=st.text(alphabet=SEGMENT_CHARS, min_size=2, max_size=8))
def test_each_wildcard_matches_what_the_dispatcher_docs_say(one: str, more: str) -> None:
    """``?`` one character, ``*`` any run within a segment, ``**`` across segments; the rest
    of a glob is literal (a ``.`` is a dot, not any character)."""
    single = PathFilter(["/content/page?.html"])
    assert single.allows(f"/content/page{one}.html")
    assert not single.allows("/content/page.html")
    assert not single.allows(f"/content/page{more}.html")
    assert not single.allows(f"/content/page{one}xhtml")
    within = PathFilter(["/content/*.html"])
    assert within.allows(f"/content/{more}.html")
    assert not within.allows(f"/content/{more}/{one}.html")
    across = PathFilter(["/content/**.html"])
    assert across.allows(f"/content/{more}/{one}.html")
    assert not across.allows(f"/etc/{more}.html")
