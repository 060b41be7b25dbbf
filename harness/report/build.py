"""A report section from its runs: the tables come from the rows; the figures are drawn here,
one of the mechanism per traced run, one of latency for the section, and with several sizes
one of what changes with size."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.report import figures
from harness.report.drawing import Draw, draw_now
from harness.report.model import Figure, Section
from harness.results import Run, Trace

MECHANISM_CAPTION = (
    "Top: each node's seconds of token validity left (a sawtooth: a refresh puts it back up; "
    "markers above are the tokens IMS issued to each node). Middle: Analytics calls per "
    "minute against Analytics' limit. Bottom: per interval, calls Analytics refused (401: bad "
    "token, 429: over the limit), stale replies and user errors, on a log scale. Grey bands "
    "and dashed lines: the faults."
)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def label_of(run: Run, among: Sequence[Run]) -> str:
    """The run's name in figures: its design, and where the same design ran more than once
    ``among`` these runs, the size, world or stickiness that tell them apart."""
    same = [r.row for r in among if r.row.design == run.row.design]
    label = run.row.design.label
    if len({r.publishers for r in same}) > 1:
        label += f", {run.row.publishers} publishers"
    if len({r.world for r in same}) > 1:
        label += f" ({run.row.world.value})"
    if len({r.sticky for r in same if r.sticky is not None}) > 1:  # (virtual: None)
        label += ", stickiness on" if run.row.sticky else ", stickiness off"
    return label


def latency_lines(runs: Sequence[Run]) -> list[tuple[str, Trace]]:
    """(label, trace) of each traced run with latencies, one line each."""
    traced = [r for r in runs if r.trace is not None]
    return [(label_of(r, traced), r.trace) for r in traced if r.trace and r.trace.latency_ecdf]


def section(
    folder: Path,
    anchor: str,
    title: str,
    intro: str,
    runs: Sequence[Run],
    *,
    mechanism: bool = True,
    mechanism_of: Sequence[Run] | None = None,
    scaling: bool = False,
    draw: Draw = draw_now,
) -> Section:
    """``mechanism_of``: the runs to draw over time (default: every traced run). ``draw``:
    how the figures are drawn (here and now, or by a :class:`~harness.report.drawing.FigurePool`).
    """
    figs: list[Figure] = []
    traced = [run for run in runs if run.trace is not None]
    drawn = traced if mechanism_of is None else [r for r in mechanism_of if r.trace]
    if mechanism:
        for run in drawn:
            trace = run.trace
            assert trace is not None
            label = label_of(run, traced)
            name = f"{anchor}-{slug(label)}"
            shown = (
                ""
                if trace.nodes_total <= len(trace.token_left)
                else (f" ({len(trace.token_left)} of {trace.nodes_total} nodes shown)")
            )
            figs.append(
                Figure(
                    draw(figures.mechanism, trace, folder / f"{name}.png", label=label),
                    name,
                    f"{label} over time: token validity per node, Analytics calls per "
                    "minute, refused calls and stale replies",
                    f"**{label}**{shown}. {MECHANISM_CAPTION}",
                )
            )
    with_latency = latency_lines(runs)
    if with_latency:
        name = f"{anchor}-latency"
        figs.append(
            Figure(
                draw(
                    figures.latency, with_latency, folder / f"{name}.png", title="Latency users saw"
                ),
                name,
                "latency distribution per design",
                "The share of requests slower than each latency (the complement of the "
                "empirical distribution), log scales: a line further right or higher has a "
                "longer tail. Requests served at once from a cache are drawn at 0.1 ms.",
            )
        )
    rows = [run.row for run in runs]
    if scaling and len({r.publishers for r in rows}) > 1:
        limits = [
            r.trace.limit_per_minute
            for r in traced
            if r.trace is not None and r.trace.limit_per_minute is not None
        ]
        name = f"{anchor}-scaling"
        figs.append(
            Figure(
                draw(figures.scaling, rows, limits[0] if limits else None, folder / f"{name}.png"),
                name,
                "token calls, Analytics calls per minute and 429s against the number of publishers",
                "Against the number of publishers: token calls (log scale), the busiest "
                "minute's Analytics calls against the limit, and the 429s Analytics answered.",
            )
        )
    return Section(anchor, title, intro, tuple(runs), tuple(figs))
