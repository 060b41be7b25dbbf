"""The home page HTML and the JSON of ``/api/top-pages``. No token ever goes in here."""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any

from node.reports import TopPages

STYLESHEET = """\
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:44rem;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}
td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.stale{color:#a60}
footer{margin-top:1rem;font-size:.8rem;color:#777}
"""


def iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, tz=dt.UTC).isoformat(timespec="seconds")


def top_pages_json(node_id: str, report: TopPages) -> dict[str, Any]:
    return {
        "node": node_id,
        "pages": [
            {"page": p.page, "visits": int(p.visits) if p.visits.is_integer() else p.visits}
            for p in report.pages
        ],
        "fetched_at": iso(report.fetched_at),
        "stale": report.stale,
    }


def home_page(node_id: str, report: TopPages) -> str:
    rows = "\n".join(
        f'<tr><td>{i}</td><td><a href="{escape(p.page)}.html">{escape(p.page)}</a></td>'
        f'<td class="n">{p.visits:,.0f}</td></tr>'
        for i, p in enumerate(report.pages, start=1)
    )
    stale = ' <span class="stale">(showing an earlier report)</span>' if report.stale else ""
    return _page(
        "Most visited pages",
        f"<table><thead><tr><th>#</th><th>Page</th><th>Visits</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>"
        f"<footer>Served by publisher {escape(node_id)} · report of "
        f"{iso(report.fetched_at)}{stale}</footer>",
    )


def content_page(node_id: str, path: str) -> str:
    """A page of the site (what the home page links to): its title from its path."""
    title = path.rsplit("/", 1)[-1].removesuffix(".html").replace("-", " ").capitalize()
    return _page(
        title or "Home",
        f"<p>This is <code>{escape(path)}</code> on the simulated site.</p>"
        '<p><a href="/">Most visited pages</a></p>'
        f"<footer>Served by publisher {escape(node_id)}</footer>",
    )


def unavailable_page(node_id: str) -> str:
    return _page(
        "Most visited pages",
        "<p>The most visited pages are not available right now. Please try again shortly.</p>"
        f"<footer>Served by publisher {escape(node_id)}</footer>",
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<link rel="stylesheet" href="/static/site.css"></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


class RenderedReports:
    """The home page and the JSON of the latest report, rendered once per report.

    A report is reused for ``analytics.cache_ttl`` and every request shows it: rendering it
    again for each request was a fifth of the node's time per request (``make bench``).
    """

    def __init__(self, node_id: str) -> None:
        self._node_id = node_id
        self._json: tuple[TopPages, bytes] | None = None
        self._html: tuple[TopPages, str] | None = None

    def top_pages_json(self, report: TopPages) -> bytes:
        if self._json is None or self._json[0] is not report:
            body = json.dumps(top_pages_json(self._node_id, report)).encode()
            self._json = (report, body)
        return self._json[1]

    def home_page(self, report: TopPages) -> str:
        if self._html is None or self._html[0] is not report:
            self._html = (report, home_page(self._node_id, report))
        return self._html[1]
