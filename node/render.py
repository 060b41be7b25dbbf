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
footer,.served{margin-top:1rem;font-size:.8rem;color:#777}
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


# The "most visited pages" component: what an AEM component that renders on the client does.
# It reads the report from the widget's URL (cached by the dispatcher and the CDN) and fills
# the table; the page itself is the same for every visitor. No token is ever in either.
WIDGET_SCRIPT = """\
(async () => {
  const box = document.getElementById("top-pages");
  try {
    const reply = await fetch(box.dataset.src, {headers: {Accept: "application/json"}});
    if (!reply.ok) throw new Error(String(reply.status));
    const report = await reply.json();
    const rows = report.pages.map((p, i) => {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = p.page + ".html";
      link.textContent = p.page;
      const cells = [String(i + 1), link, p.visits.toLocaleString("en")];
      cells.forEach((value, k) => {
        const td = document.createElement("td");
        if (k === 2) td.className = "n";
        td.append(value);
        tr.append(td);
      });
      return tr;
    });
    box.querySelector("tbody").replaceChildren(...rows);
    const when = new Date(report.fetched_at).toISOString().slice(0, 16).replace("T", " ");
    box.querySelector("footer").textContent =
      `Report of ${when} UTC from publisher ${report.node}` +
      (report.stale ? " (an earlier report: the latest refresh failed)" : "");
  } catch (err) {
    box.querySelector("footer").textContent =
      "The most visited pages are not available right now. Please try again shortly.";
  }
})();
"""


def home_page(node_id: str, widget: str) -> str:
    """The home page: the same for every visitor; its component fetches ``widget``."""
    return _page(
        "Most visited pages",
        f'<section id="top-pages" data-src="{escape(widget)}">'
        "<table><thead><tr><th>#</th><th>Page</th><th>Visits</th></tr></thead>"
        '<tbody><tr><td colspan="3">Loading…</td></tr></tbody></table>'
        "<footer></footer></section>"
        "<noscript><p>The list needs JavaScript; its data is "
        f'<a href="{escape(widget)}">{escape(widget)}</a>.</p></noscript>'
        f"<script>{WIDGET_SCRIPT}</script>"
        f'<p class="served">Page served by publisher {escape(node_id)}</p>',
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
    """The home page (once) and the JSON of the latest report (once per report).

    Every request between two refreshes shows the same report: rendering it again for each
    request was a fifth of the node's time per request (``make bench``).
    """

    def __init__(self, node_id: str, widget: str) -> None:
        self._node_id = node_id
        self._json: tuple[TopPages, bytes] | None = None
        self.home = home_page(node_id, widget)

    def top_pages_json(self, report: TopPages) -> bytes:
        if self._json is None or self._json[0] is not report:
            body = json.dumps(top_pages_json(self._node_id, report)).encode()
            self._json = (report, body)
        return self._json[1]
