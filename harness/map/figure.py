"""The map as small multiples: one panel per design, estate size down, report cadence across,
each cell coloured by its verdict and labelled in words (readable in print and without
colour). Okabe and Ito's palette: bluish green acceptable, yellow a stale report, orange
429s, vermillion user errors, grey not run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from harness.map.cadences import cadence_label
from harness.map.verdicts import Judged, Verdict
from harness.report.figures import GREEN, ORANGE, VERMILLION, YELLOW, pyplot, save_figure

COLOURS = {
    Verdict.NOT_RUN: "#DDDDDD",
    Verdict.OK: GREEN,
    Verdict.STALE: YELLOW,
    Verdict.THROTTLED: ORANGE,
    Verdict.ERRORS: VERMILLION,
}
SHORT = {
    Verdict.NOT_RUN: "not run",
    Verdict.OK: "ok",
    Verdict.STALE: "stale",
    Verdict.THROTTLED: "429s",
    Verdict.ERRORS: "errors",
}
COLUMNS = 3


def map_figure(judged: Sequence[Judged], path: Path) -> Path:
    plt = pyplot()
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    designs = list(dict.fromkeys(j.cell.design.label for j in judged))
    sizes = sorted({j.cell.publishers for j in judged})
    cadences = sorted({j.cell.cadence for j in judged})
    rows = math.ceil(len(designs) / COLUMNS)
    fig, axes = plt.subplots(
        rows,
        COLUMNS,
        figsize=(11.0, 1.0 + rows * (0.55 * len(sizes) + 0.9)),
        squeeze=False,
    )
    by_key = {(j.cell.design.label, j.cell.publishers, j.cell.cadence): j for j in judged}
    for index, design in enumerate(designs):
        ax = axes[index // COLUMNS][index % COLUMNS]
        image = [
            [
                to_rgb(COLOURS[by_key[(design, n, c)].verdict])
                if (design, n, c) in by_key
                else (1.0, 1.0, 1.0)
                for c in cadences
            ]
            for n in sizes
        ]
        ax.imshow(image, aspect="auto")
        for y, n in enumerate(sizes):
            for x, c in enumerate(cadences):
                cell = by_key.get((design, n, c))
                if cell is not None:
                    ax.text(x, y, _label(cell), ha="center", va="center", fontsize=8)
        ax.set_title(design)
        ax.set_xticks(range(len(cadences)), [cadence_label(c) for c in cadences])
        ax.set_yticks(range(len(sizes)), [f"{n} pub." for n in sizes])
        ax.tick_params(length=0)
    for index in range(len(designs), rows * COLUMNS):
        axes[index // COLUMNS][index % COLUMNS].axis("off")
    fig.legend(
        handles=[
            Patch(color=COLOURS[v], label=v.label) for v in Verdict if v is not Verdict.NOT_RUN
        ],
        loc="lower center",
        ncol=4,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(plt, fig, path)


def _label(judged: Judged) -> str:
    r = judged.result
    if r is None:
        return "not run"
    detail = {
        Verdict.ERRORS: f"{r.user_errors:,}",
        Verdict.THROTTLED: f"{r.analytics_429s:,}",
        Verdict.STALE: f"p99 {r.report_age_p99_s / 60:.0f} min",
        Verdict.OK: f"{r.analytics_calls_per_hour:,.0f}/h",
    }.get(judged.verdict, "")
    return f"{SHORT[judged.verdict]}\n{detail}"
