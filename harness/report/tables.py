"""The runs of a section as tables: three narrow ones (token calls, what users saw, Analytics)
rather than one that does not fit a page, each without the columns no run has a value for, and
without the columns that are the same for every run (said once, in the section's caption).

Also the data files: ``results.csv`` and ``results.json``, every column of every run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path

from harness.results import Row, Run

Cell = Callable[[Row], object]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    cell: Cell
    help: str = ""  # what the number means, shown on hover and in "How to read"
    words: bool = False  # text, aligned left (numbers align right)


def _attr(name: str) -> Cell:
    return lambda row: getattr(row, name)


def _label(row: Row) -> str:
    return row.design.label


def _latency(row: Row) -> str:
    return f"{row.p50_ms:g} / {row.p95_ms:g} / {row.p99_ms:g}"


def _checks(row: Row) -> str:
    return f"{row.checks_held}/{row.invariants}"


IDENTITY = (
    Column("publishers", _attr("publishers")),
    Column("sticky", _attr("sticky")),
    Column("scenario", _attr("scenario")),
)
GROUPS: tuple[tuple[str, tuple[Column, ...]], ...] = (
    (
        "Token calls",
        (
            Column("token calls", _attr("token_calls"), "tokens IMS issued to the nodes"),
            Column("per node", _attr("token_calls_per_node")),
            Column(
                "peak at once",
                _attr("peak_concurrent_token_calls"),
                "token calls in flight at the same time; above the number of nodes: a stampede",
            ),
            Column(
                "calls on restart",
                _attr("token_calls_on_restart"),
                "token calls of a restarted publisher in its first minutes",
            ),
            Column(
                "calls per start",
                _attr("token_calls_per_start"),
                "token calls of a new or recycled instance (empty disk)",
            ),
            Column("checks held", _checks, "the run's invariants that held"),
        ),
    ),
    (
        "What users saw",
        (
            Column("requests", _attr("requests")),
            Column("user errors", _attr("user_errors"), "requests that got no page"),
            Column("stale", _attr("stale_responses"), "replies served from the last good report"),
            Column("p50 / p95 / p99 ms", _latency),
            Column(
                "served in IMS outage",
                _attr("served_during_ims_outage"),
                "requests answered while IMS was down (in brackets: with a fresh report)",
            ),
            Column(
                "recovery s",
                _attr("recovery_s"),
                "from IMS coming back to every node serving fresh pages",
            ),
            Column(
                "session moves",
                _attr("session_moves"),
                "a visitor's page came from another publisher than the one before",
            ),
            Column("token leaks", _attr("token_leaks"), "responses that carried a token"),
        ),
    ),
    (
        "Analytics",
        (
            Column("calls", _attr("analytics_calls")),
            Column("peak / min", _attr("analytics_peak_per_minute")),
            Column("mean / min", _attr("analytics_mean_per_minute")),
            Column("401s", _attr("analytics_401s"), "calls refused for their token"),
            Column("429s", _attr("analytics_429s"), "calls refused by the rate limit"),
        ),
    ),
    (
        "What it needs",
        (
            Column(
                "client secret on",
                lambda row: row.design.costs.secret_holders(row.publishers),
                "the instances that hold the IMS client secret",
                words=True,
            ),
            Column("token on", lambda row: row.design.costs.held_at, words=True),
            Column("shared state", lambda row: row.design.costs.shared_state, words=True),
            Column(
                "moving parts",
                lambda row: row.design.costs.moving_parts,
                "what a failure can take down besides IMS and Analytics",
                words=True,
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    cells: tuple[tuple[str, ...], ...]  # one row per run, one cell per column


def text(value: object) -> str:
    if value is None:
        return "-"
    if value is True:
        return "on"
    if value is False:
        return "off"
    if isinstance(value, float):
        return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def constants(rows: Sequence[Row]) -> dict[str, str]:
    """The identity columns that are the same for every run (and apply to them)."""
    return {
        c.name: text(values[0])
        for c in IDENTITY
        if len(values := [c.cell(r) for r in rows]) > 0
        and values[0] is not None
        and all(v == values[0] for v in values)
    }


def tables(rows: Sequence[Row]) -> list[Table]:
    same = constants(rows)
    identity = [
        c for c in IDENTITY if c.name not in same and any(c.cell(r) is not None for r in rows)
    ]
    out = []
    for title, group in GROUPS:
        measured = [c for c in group if any(c.cell(r) is not None for r in rows)]
        if not measured:
            continue
        columns = (Column("design", _label), *identity, *measured)
        cells = tuple(tuple(text(c.cell(r)) for c in columns) for r in rows)
        out.append(Table(title, columns, cells))
    return out


def markdown(table: Table) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    head = "| " + " | ".join(c.name for c in table.columns) + " |"
    aligned = ("---" if i == 0 or c.words else "--:" for i, c in enumerate(table.columns))
    rule = "|" + "|".join(aligned) + "|"
    body = ["| " + " | ".join(escape(c) for c in cells) + " |" for cells in table.cells]
    return "\n".join([head, rule, *body])


def failed_checks(rows: Sequence[Row]) -> list[str]:
    return [
        f"{r.design.label}{_where(r)}: {c.name} ({c.measured})"
        for r in rows
        for c in r.checks
        if not c.held
    ]


def _where(row: Row) -> str:
    parts = [f"{row.publishers} publishers"] if row.publishers != 3 else []
    if row.sticky is False:
        parts.append("stickiness off")
    return f" ({', '.join(parts)})" if parts else ""


def write_data(folder: Path, runs: Sequence[Run]) -> None:
    """``results.json`` (rows and traces) and ``results.csv`` (rows, the checks in one cell)."""
    rows = [r.row for r in runs]
    (folder / "results.json").write_text(
        json.dumps(
            {
                "rows": [_plain(r) for r in rows],
                "traces": [asdict(r.trace) for r in runs if r.trace is not None],
            },
            indent=1,
        )
    )
    if not rows:
        return  # nothing to tabulate (a report of the map alone has its own data file)
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(_flat(rows[0])))
        writer.writeheader()
        writer.writerows(_flat(r) for r in rows)


def _plain(row: Row) -> dict[str, object]:
    fields = {f.name: getattr(row, f.name) for f in dataclass_fields(row)}
    return {
        **fields,
        "design": row.design.label,
        "world": row.world.value,
        "checks": [asdict(c) for c in row.checks],
        "checks_held": row.checks_held,
        "invariants": row.invariants,
    }


def _flat(row: Row) -> dict[str, object]:
    plain = _plain(row)
    plain["checks"] = "; ".join(
        f"{'PASS' if c.held else 'FAIL'} {c.name}: {c.measured}" for c in row.checks
    )
    return plain


def glossary() -> str:
    """What each column means, as Markdown: from the columns' own help."""
    return "\n".join(
        f"* **{c.name}**{' (' + title + ')' if c.name in ('calls', '401s', '429s') else ''}: "
        f"{c.help}."
        for title, group in GROUPS
        for c in group
        if c.help
    )


def terminal(rows: Sequence[Row]) -> str:
    """The tables for a terminal: each titled, in Markdown (readable as text)."""
    same = constants(rows)
    head = "All runs: " + "; ".join(f"{k} {v}" for k, v in same.items()) + "\n\n" if same else ""
    return head + "\n\n".join(f"{t.title}\n\n{markdown(t)}" for t in tables(rows)) + "\n"
