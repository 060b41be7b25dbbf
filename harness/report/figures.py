"""The report's figures (PNG, matplotlib's Agg backend): what a design does over time, how long
users waited, and what changes with the size of the estate.

* :func:`mechanism`: one run, three panels on one time axis: each node's seconds of token
  validity left (a sawtooth; IMS calls as markers), Analytics calls per minute against the rate
  limit, and per interval the 401s, 429s, stale replies and errors. Fault windows are shaded
  across the three, instants are dashed lines.
* :func:`latency`: the share of requests slower than each latency, one line per design: the
  complement of the empirical distribution, on log axes, so that the tail shows.
* :func:`scaling`: token calls, Analytics calls per minute and 429s against the size.

Colours are Okabe and Ito's palette, distinguishable with every common colour blindness; each
series also differs by line style or marker. Figures are 1100 px wide: readable at 1280.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.results import Row, Trace

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Okabe & Ito (2008), "Color Universal Design": black first for the limit lines.
BLACK, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
PALETTE = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK)
STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
WIDTH, DPI = 11.0, 100  # inches, dots per inch: 1100 px


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold"})
    return plt


def _time_unit(horizon: float) -> tuple[float, str]:
    if horizon >= 6 * 3600:
        return 3600.0, "hours"
    if horizon >= 600:
        return 60.0, "minutes"
    return 1.0, "seconds"


def mechanism(trace: Trace, path: Path, *, label: str | None = None) -> Path:
    """The run over time; ``label`` names it in the title (default: its design)."""
    plt = pyplot()
    scale, unit = _time_unit(trace.horizon)
    left_scale, left_unit = (3600.0, "h") if trace.lifetime >= 6 * 3600 else (1.0, "s")
    fig, (tokens, calls, refused) = plt.subplots(
        3,
        1,
        figsize=(WIDTH, 6.6),
        sharex=True,
        gridspec_kw={"height_ratios": (2.6, 1.3, 1.5)},
    )
    times = [t / scale for t in trace.times]
    for i, (node, lane) in enumerate(trace.token_left.items()):
        colour = PALETTE[i % len(PALETTE)]
        left = [math.nan if v is None else v / left_scale for v in lane]
        tokens.plot(times, left, STYLES[i % len(STYLES)], color=colour, lw=1.4, label=node)
        issued = [t / scale for t in trace.token_calls.get(node, ())]
        tokens.plot(
            issued,
            [trace.lifetime / left_scale * (1.04 + 0.035 * i)] * len(issued),
            MARKERS[i % len(MARKERS)],
            color=colour,
            ms=5,
            ls="none",
        )
    shown = len(trace.token_left)
    of = f" ({shown} of {trace.nodes_total} nodes)" if trace.nodes_total > shown else ""
    named = label or trace.design
    # A long name takes a line of its own: the nodes' legend sits right of the title's last line.
    joint = "\n" if len(named) > 24 else ": "
    tokens.set_title(f"{named}{joint}token validity left per node{of}", loc="left")
    tokens.set_ylabel(f"validity left ({left_unit})")
    tokens.set_ylim(0, trace.lifetime / left_scale * (1.1 + 0.035 * shown))
    tokens.plot([], [], "o", color="#777777", ms=5, label="IMS issued a token")
    tokens.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=min(7, shown + 1),
        fontsize=8,
        frameon=False,
        borderaxespad=0.2,
    )

    calls.step(times, trace.analytics_per_minute, where="pre", color=BLUE, lw=1.2)
    if trace.limit_per_minute is not None:
        calls.axhline(trace.limit_per_minute, color=BLACK, ls="--", lw=1)
        calls.annotate(
            f"Analytics' limit: {trace.limit_per_minute:g}/min",
            (0.005, trace.limit_per_minute),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
        )
        top = max(trace.limit_per_minute, *trace.analytics_per_minute)
        calls.set_ylim(0, top * 1.25)
    calls.set_ylabel(f"Analytics calls / min\n(over {_span(trace.analytics_window)})")

    interval = _interval(trace, scale, unit)
    series = (
        ("Analytics 401s", trace.refused_401, VERMILLION, "-"),
        ("Analytics 429s", trace.refused_429, ORANGE, "--"),
        ("stale replies", trace.stale, SKY, "-."),
        ("user errors", trace.errors, BLACK, ":"),
    )
    for label, values, colour, style in series:
        if any(values):
            total = sum(values)
            refused.step(
                times,
                values,
                style,
                where="pre",
                color=colour,
                lw=1.4,
                label=f"{label} ({total:,.0f})",
            )
    if not any(any(v) for _, v, _, _ in series):
        refused.text(
            0.5, 0.5, "no 401s, 429s, stale replies or errors", ha="center", va="center",
            transform=refused.transAxes, color="#555555",
        )  # fmt: skip
    else:
        refused.set_yscale("symlog", linthresh=1)
        refused.legend(loc="upper left", fontsize=8, ncols=4, framealpha=0.9)
    refused.set_ylabel(f"per {interval}")
    refused.set_xlabel(unit)
    refused.set_xlim(0, max(trace.horizon, *trace.times[-1:]) / scale)
    for ax in (tokens, calls, refused):
        ax.grid(alpha=0.25)
        _shade_faults(ax, trace, scale, label=ax is tokens)
    fig.tight_layout()
    return save_figure(plt, fig, path)


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:g} s"


def _interval(trace: Trace, scale: float, unit: str) -> str:
    if len(trace.times) < 2:
        return "interval"
    step = (trace.times[-1] - trace.times[0]) / (len(trace.times) - 1)
    if step >= 60:
        return f"{step / 60:.0f} min"
    return f"{step:.2g} s"


def _shade_faults(ax: Axes, trace: Trace, scale: float, *, label: bool) -> None:
    top = ax.get_ylim()[1]  # labels in the lower part, under the sawtooth's troughs
    for k, fault in enumerate(trace.faults):
        start, end = fault.start / scale, fault.end / scale
        if end > start:
            ax.axvspan(start, end, color="#999999", alpha=0.22, lw=0)
        else:
            ax.axvline(start, color="#555555", ls=(0, (4, 3)), lw=0.9)
        if label:
            ax.text(
                start,
                top * (0.03 + 0.08 * (k % 3)),
                " " + fault.label,
                fontsize=7.5,
                va="bottom",
                ha="left",
                color="#333333",
                bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1},
            )


def latency(lines: Sequence[tuple[str, Trace]], path: Path, *, title: str) -> Path:
    """One line per (label, trace)."""
    plt = pyplot()
    return save_figure(plt, latency_figure(plt, lines, title=title), path)


def latency_figure(plt: Any, lines: Sequence[tuple[str, Trace]], *, title: str) -> Any:
    """The figure of :func:`latency`, not yet saved."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    floor = 1.0
    for i, (label, trace) in enumerate(lines):
        points = [(ms, 1.0 - share) for ms, share in trace.latency_ecdf]
        shown = [(max(ms, 0.1), slower) for ms, slower in points if slower > 0]
        if not shown:
            continue
        xs = [ms for ms, _ in shown]
        ys = [slower for _, slower in shown]
        floor = min(floor, *ys)
        ax.step(
            xs,
            ys,
            STYLES[i % len(STYLES)],
            where="post",
            color=PALETTE[i % len(PALETTE)],
            marker=MARKERS[i % len(MARKERS)],
            ms=4,
            lw=1.5,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(max(floor / 2, 1e-8), 1.05)
    ax.set_xlabel("latency (ms, log scale; 0.1 = served at once from the cache)")
    ax.set_ylabel("share of requests slower")
    ax.set_title(title, loc="left")
    ax.grid(alpha=0.25, which="both")
    if len(lines) > 9:  # too many to sit over the lines: a column beside the axes
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax.legend(fontsize=8, ncols=min(4, len(lines)))
    fig.tight_layout()
    return fig


def scaling(rows: Sequence[Row], limit_per_minute: float | None, path: Path) -> Path:
    """Token calls, Analytics calls per minute (peak and mean, against the limit) and 429s
    against the number of publishers, one line per design."""
    plt = pyplot()
    return save_figure(plt, scaling_figure(plt, rows, limit_per_minute), path)


def scaling_figure(plt: Any, rows: Sequence[Row], limit_per_minute: float | None) -> Any:
    """The figure of :func:`scaling`, not yet saved."""
    designs = list(dict.fromkeys(r.design for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.8))
    for i, design in enumerate(designs):
        runs = sorted((r for r in rows if r.design == design), key=lambda r: r.publishers)
        sizes = [r.publishers for r in runs]
        style = {
            "color": PALETTE[i % len(PALETTE)],
            "marker": MARKERS[i % len(MARKERS)],
            "ls": STYLES[i % len(STYLES)],
            "label": design.label,
        }
        axes[0].plot(sizes, [r.token_calls for r in runs], **style)
        axes[1].plot(sizes, [r.analytics_peak_per_minute or 0 for r in runs], **style)
        axes[2].plot(sizes, [r.analytics_429s or 0 for r in runs], **style)
    if limit_per_minute is not None:
        axes[1].axhline(limit_per_minute, color=BLACK, ls="--", lw=1)
        axes[1].annotate(
            f"Analytics' limit: {limit_per_minute:g}/min",
            (0.02, limit_per_minute),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            fontsize=8,
        )
    titles = ("token calls", "Analytics calls, peak minute", "Analytics 429s")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, loc="left")
        ax.set_xlabel("publishers")
        ax.grid(alpha=0.25)
    axes[0].set_yscale("log")
    axes[2].set_yscale("symlog", linthresh=1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(plt: Any, fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
