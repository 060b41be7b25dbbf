"""The per-response checks the Locust visitors apply (pure functions)."""

from __future__ import annotations

import json

import pytest

from loadtests.checks import home_page_problem, leaked_token, pages_of, top_pages_problem

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"


def doc(visits: list[int], node: str = "p1") -> str:
    return json.dumps(
        {
            "node": node,
            "pages": [{"page": f"/p{i}", "visits": v} for i, v in enumerate(visits)],
            "fetched_at": "x",
            "stale": False,
        }
    )


def test_a_good_reply_passes() -> None:
    assert top_pages_problem(200, {"X-Publisher": "p1"}, doc([30, 20, 10])) is None


@pytest.mark.parametrize(
    ("status", "headers", "body", "problem"),
    [
        (503, {"X-Publisher": "p1"}, doc([3, 2]), "status 503 from publisher p1"),
        (502, {"X-Dispatcher": "d2"}, "", "status 502 from dispatcher d2"),
        (503, {}, "503 no target available\n", "status 503 from the balancer"),
        (200, {"X-Publisher": "p1"}, doc([1, 2, 3]), "descending"),
        (200, {"X-Publisher": "p2"}, doc([3, 2]), "does not match"),
        (200, {"X-Publisher": "p1"}, "<html>", "not a top-pages document"),
        (200, {"X-Publisher": "p1"}, doc([]), "no pages"),
        (200, {"X-Publisher": "p1", "Set-Cookie": f"x={JWT}"}, doc([3, 2]), "token leaked"),
        (200, {"X-Publisher": "p1"}, doc([3, 2])[:-1] + f', "t": "{JWT}"}}', "token leaked"),
    ],
)
def test_bad_replies_are_named(
    status: int, headers: dict[str, str], body: str, problem: str
) -> None:
    found = top_pages_problem(status, headers, body)
    assert found is not None
    assert problem in found


def test_the_home_page_has_its_component_and_no_token() -> None:
    good = '<section id="top-pages" data-src="/content/site/en/top-pages.json">'
    assert home_page_problem(200, {}, good) is None
    assert "component" in (home_page_problem(200, {}, "<html></html>") or "")
    assert "status 503" in (home_page_problem(503, {}, good) or "")
    assert "token" in (home_page_problem(200, {}, good + JWT) or "")
    assert leaked_token({"X-Debug": "access_token=abc"}, "") is True


def test_the_pages_a_report_lists_are_the_links_a_visitor_follows() -> None:
    assert pages_of(doc([3, 2])) == ["/p0", "/p1"]
    assert pages_of("<html>") == []
