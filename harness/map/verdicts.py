"""Judging a map cell, and the map in words: per cell the worst of user errors, Analytics 429s
and a report older than users should see; per design one sentence saying where it stops
being acceptable; a Markdown table of every cell with the numbers behind its verdict."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from core.durations import format_duration
from harness.designs import Design
from harness.map.cadences import cadence_label
from harness.map.cells import Cell
from harness.report.build import slug
from harness.virtual.outcome import VirtualResult


class Verdict(enum.IntEnum):
    """Worse is larger; the value orders them, the label is for people."""

    NOT_RUN = 0
    OK = 1
    STALE = 2
    THROTTLED = 3
    ERRORS = 4

    @property
    def label(self) -> str:
        return {
            Verdict.NOT_RUN: "not run",
            Verdict.OK: "acceptable",
            Verdict.STALE: "stale report",
            Verdict.THROTTLED: "429s",
            Verdict.ERRORS: "user errors",
        }[self]


@dataclass(frozen=True, slots=True)
class Judged:
    cell: Cell
    verdict: Verdict

    @property
    def result(self) -> VirtualResult | None:
        return self.cell.result


def judge(cell: Cell, max_age: float) -> Judged:
    """The cell's verdict: the worst thing users or Analytics saw in it."""
    r = cell.result
    if r is None:
        verdict = Verdict.NOT_RUN
    elif r.user_errors:
        verdict = Verdict.ERRORS
    elif r.analytics_429s:
        verdict = Verdict.THROTTLED
    elif r.report_age_p99_s > max_age:
        verdict = Verdict.STALE
    else:
        verdict = Verdict.OK
    return Judged(cell, verdict)


def anchor(design: str, size: int | None = None, cadence: float | None = None) -> str:
    """The id of a design's rows in the map's table (``map-per-node``), or of one of its cells
    (``map-per-node-50-1800s``; ``page`` for every page load): what answers link to."""
    parts = [slug(design)]
    if size is not None:
        parts.append(str(size))
    if cadence is not None:
        parts.append("page" if cadence <= 0 else f"{cadence:g}s")
    return "map-" + "-".join(parts)


def cell_text(judged: Judged) -> str:
    """What a cell says in the table: verdict, then the numbers behind it."""
    r = judged.result
    if r is None:
        return "not run"
    days = r.horizon / 86_400
    per_day = r.token_calls / max(1, r.publishers) / days
    parts = [
        f"**{judged.verdict.label}**",
        f"{r.analytics_calls_per_hour:,.0f} calls/h",
        f"{r.analytics_429s:,} 429s",
        f"{r.user_errors:,} errors",
        f"age p99 {format_duration(r.report_age_p99_s)}",
        f"{per_day:.1f} tokens/publisher-day",
    ]
    return " · ".join(parts)


def table(judged: Sequence[Judged]) -> str:
    """Markdown: a row per design and size, a column per cadence."""
    cadences = sorted({j.cell.cadence for j in judged})
    head = "| design | size | needs | " + " | ".join(cadence_label(c) for c in cadences) + " |"
    rule = "|:--|--:|:--|" + ":--|" * len(cadences)
    by_key = {(j.cell.design.label, j.cell.publishers, j.cell.cadence): j for j in judged}
    rows = []
    seen: dict[tuple[str, int], Design] = {}
    for j in judged:
        seen.setdefault((j.cell.design.label, j.cell.publishers), j.cell.design)
    anchored: set[str] = set()  # designs whose first row carries the design's own id
    for (label, size), design in seen.items():
        cells = [by_key.get((label, size, c)) for c in cadences]
        texts = [
            f'<a id="{anchor(label, size, c)}"></a>' + (cell_text(j) if j is not None else "")
            for c, j in zip(cadences, cells, strict=True)
        ]
        costs = design.costs
        needs = f"secret on {costs.secret_holders(size)}; shared state: {costs.shared_state}"
        first = "" if label in anchored else f'<a id="{anchor(label)}"></a>'
        anchored.add(label)
        rows.append(f"| {first}{label} | {size} | {needs} | " + " | ".join(texts) + " |")
    return "\n".join([head, rule, *rows])


def where_it_flips(judged: Sequence[Judged], design: str) -> str:
    """One sentence: where ``design`` stops being acceptable, cadence by cadence."""
    own = [j for j in judged if j.cell.design.label == design and j.result is not None]
    if not own:
        return f"{design}: not run."
    cadences = sorted({j.cell.cadence for j in own}, reverse=True)  # slowest first
    sizes = sorted({j.cell.publishers for j in own})
    breaks = []
    fine = []
    for cadence in cadences:
        row = sorted((j for j in own if j.cell.cadence == cadence), key=lambda j: j.cell.publishers)
        first_bad = next((j for j in row if j.verdict > Verdict.OK), None)
        if first_bad is None:
            fine.append(cadence_label(cadence))
        else:
            cell = first_bad.cell
            breaks.append(
                f"{cadence_label(cadence)} from {cell.publishers} publishers "
                f"([{_what(first_bad)}](#{anchor(design, cell.publishers, cadence)}))"
            )
    name = f"[{design}](#{anchor(design)})"
    if not breaks:
        return f"{name}: acceptable in every cell, up to {sizes[-1]} publishers."
    held = f"acceptable {', '.join(fine)} up to {sizes[-1]} publishers; " if fine else ""
    return f"{name}: {held}not with a report {'; '.join(breaks)}."


def _what(judged: Judged) -> str:
    """The number behind a verdict, in words: ``1,822 user errors``."""
    r = judged.result
    if r is None:
        return "not run"
    if judged.verdict is Verdict.ERRORS:
        return f"{r.user_errors:,} user errors"
    if judged.verdict is Verdict.THROTTLED:
        return f"{r.analytics_429s:,} 429s"
    if judged.verdict is Verdict.STALE:
        return f"report age p99 {format_duration(r.report_age_p99_s)}"
    return judged.verdict.label
