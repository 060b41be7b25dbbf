"""The balancer's status page for people (``GET /lb/status`` with a browser): the snapshot
:func:`lb.status.snapshot` returns, as a page that refreshes itself every 2 s.

A target's state is a word and a colour (Okabe and Ito's palette, so that no one needs to tell
red from green); an empty value is "-", never "None". No template engine: the balancer runs
with the services' dependencies only.
"""

from __future__ import annotations

from html import escape
from typing import Any

COLUMNS = (
    ("id", "target"),
    ("publisher", "publisher"),
    ("state", "state"),
    ("in_flight", "in flight"),
    ("requests", "requests"),
    ("sessions", "sessions"),
    ("errors", "errors"),
    ("last_problem", "last problem"),
)
STATE_COLOURS = {  # background, text
    "healthy": ("#009E73", "#ffffff"),
    "unhealthy": ("#D55E00", "#ffffff"),
    "draining": ("#E69F00", "#000000"),
    "initial": ("#dddddd", "#000000"),
    "unused": ("#dddddd", "#000000"),
}
STYLE = """
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: #1d2430; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .4rem; }
.facts { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .6rem 0 1.2rem;
         color: #5b6472; }
.facts strong { color: #1d2430; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid #d9dee6; padding: .35rem .6rem; text-align: right;
         overflow-wrap: anywhere; }
th { background: #f4f6f9; }
th:nth-child(-n+3), td:nth-child(-n+3), td:last-child, th:last-child { text-align: left; }
.state { display: inline-block; min-width: 6em; text-align: center; border-radius: 3px;
         padding: 0 .4em; font-weight: 600; }
.note { color: #5b6472; font-size: .85rem; margin-top: 1rem; }
"""


def cell(value: object) -> str:
    return "-" if value is None or value == "" else escape(str(value))


def _state(state: str) -> str:
    background, colour = STATE_COLOURS.get(state, ("#dddddd", "#000000"))
    return (
        f'<span class="state" style="background:{background};color:{colour}">{escape(state)}</span>'
    )


def render(data: dict[str, Any]) -> str:
    heads = "".join(f'<th scope="col">{name}</th>' for _, name in COLUMNS)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{_state(str(t[key])) if key == 'state' else cell(t.get(key))}</td>"
            for key, _ in COLUMNS
        )
        + "</tr>"
        for t in data["targets"]
    )
    sticky = data["sticky"]
    refused = ", ".join(f"{n} x {code}" for code, n in data["refused"].items()) or "none"
    facts = (
        ("routing", escape(str(data["algorithm"]))),
        (
            "sticky cookie",
            f"{escape(str(sticky['cookie']))} {'on' if sticky['enabled'] else 'off'}",
        ),
        ("requests", f"{data['requests']:,}"),
        ("retried", f"{data['retries']:,}"),
        ("sessions moved", f"{data['sessions_moved']:,}"),
        ("no target (503)", f"{data['no_target']:,}"),
        ("client connections", cell(data.get("client_connections"))),
        ("refused", escape(refused)),
        ("fail-open choices", f"{data['fail_open']:,}"),
        ("health-check rounds", cell(data.get("health_check_rounds"))),
    )
    facts_html = "".join(f"<span>{name}: <strong>{value}</strong></span>" for name, value in facts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="refresh" content="2"><title>Load balancer</title>'
        f"<style>{STYLE}</style></head><body><main><h1>Load balancer</h1>"
        f'<div class="facts">{facts_html}</div>'
        f"<table><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>"
        '<p class="note">Refreshes every 2 s. The same as JSON: '
        "<code>curl -H 'Accept: application/json'</code> this address.</p>"
        "</main></body></html>"
    )
