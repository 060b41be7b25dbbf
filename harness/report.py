"""The comparison report: one row per run, as a table (Markdown, HTML, CSV, JSON) and plots.

Shared by the comparison on real processes (:mod:`harness.load.compare`) and the virtual-time one
(:mod:`harness.virtual.simulation`).
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from harness.results import Row

COLUMNS = (
    ("design", "design"),
    ("publishers", "publishers"),
    ("sticky", "sticky"),
    ("scenario", "scenario"),
    ("invariants held", None),
    ("requests", "requests"),
    ("user errors", "user_errors"),
    ("token calls", "token_calls"),
    ("per node", "token_calls_per_node"),
    ("peak concurrent calls", "peak_concurrent_token_calls"),
    ("Analytics 401s", "analytics_401s"),
    ("Analytics calls", "analytics_calls"),
    ("peak calls/min", "analytics_peak_per_minute"),
    ("429s", "analytics_429s"),
    ("stale", "stale_responses"),
    ("p50/p95/p99 ms", None),
    ("served in IMS outage", "served_during_ims_outage"),
    ("recovery s", "recovery_s"),
    ("calls on restart", "token_calls_on_restart"),
    ("calls per start", "token_calls_per_start"),
)


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table, without the columns no row has a value for."""
    columns = [
        (name, attr)
        for name, attr in COLUMNS
        if attr is None or any(getattr(r, attr) is not None for r in rows)
    ]
    lines = ["| " + " | ".join(name for name, _ in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = []
        for name, attr in columns:
            if name == "invariants held":
                cells.append(f"{r.passed}/{r.invariants}")
            elif name == "p50/p95/p99 ms":
                cells.append(f"{r.p50_ms:g} / {r.p95_ms:g} / {r.p99_ms:g}")
            else:
                value = getattr(r, attr or "")
                cells.append(
                    "-"
                    if value is None
                    else ("on" if value is True else "off" if value is False else str(value))
                )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    folder: Path,
    rows: Sequence[Row],
    timelines: dict[str, dict[str, list[float]]],
    *,
    intro: str,
    time_label: str = "seconds since the load started",
    extra_plots: Sequence[Path] = (),
) -> None:
    """``intro`` is Markdown paragraphs (the first line is the title) explaining the runs."""
    (folder / "results.json").write_text(
        json.dumps({"rows": [_plain(r) for r in rows], "token_call_times": timelines}, indent=2)
    )
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(_flat(rows[0])))
        writer.writeheader()
        writer.writerows(_flat(r) for r in rows)
    plots = [*extra_plots, *_plots(folder, rows, timelines, time_label)]
    intro = intro.rstrip() + "\n\n"
    (folder / "report.md").write_text(
        intro + table(rows) + "\n" + "".join(f"![{p.stem}]({p.name})\n\n" for p in plots)
    )
    images = "".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"></figure>'
        for p in plots
    )
    body = _markdown_table_to_html(table(rows))
    (folder / "report.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Token strategies '
        "compared</title><style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-"
        "collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:right}"
        "img{max-width:100%}</style></head><body>"
        f"<h1>Token strategies compared</h1>{_paragraphs(intro.split(chr(10), 2)[2])}"
        f"{body}{images}</body></html>"
    )


HOW_TO_READ = (
    "How to read it: *token calls* is what IMS issued to the nodes (per-node should be about "
    "N times shared, replicated and scheduled); *peak concurrent calls* above the number of "
    "nodes is a stampede; *user errors* are requests that got no page; *stale* are replies "
    "served from the last good report; *Analytics 401s* are calls made with a token Analytics "
    "refused (expired or revoked); *served in IMS outage* is the share of requests answered "
    "while IMS was down (in brackets: with a fresh report); *recovery* is how long after "
    "IMS returned every node served fresh "
    "pages again; *calls on restart* is what a restarted node asked IMS for."
)


def _plain(row: Row) -> dict[str, object]:
    return {**asdict(row), "passed": row.passed, "invariants": row.invariants}


def _flat(row: Row) -> dict[str, object]:
    """A CSV row: the checks as one cell."""
    plain = _plain(row)
    plain["checks"] = "; ".join(
        f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.measured}" for c in row.checks
    )
    return plain


def _paragraphs(markdown: str) -> str:
    return "".join(
        f"<p>{html.escape(block.strip())}</p>" for block in markdown.split("\n\n") if block.strip()
    )


def _markdown_table_to_html(markdown: str) -> str:
    lines = [line.strip("|").split("|") for line in markdown.strip().splitlines()]
    head, rows = lines[0], lines[2:]
    th = "".join(f"<th>{html.escape(c.strip())}</th>" for c in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{th}</tr>{trs}</table>"


def _plots(
    folder: Path,
    rows: Sequence[Row],
    timelines: dict[str, dict[str, list[float]]],
    time_label: str,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    labels = [f"{r.design}{'*' if r.sticky is False else ''}\n{r.scenario}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.9), 4))
    ax.bar(labels, [r.token_calls for r in rows], color="#4c72b0")
    ax.set_ylabel("token calls (all nodes)")
    ax.set_title("Token calls per run (* = stickiness off)")
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    paths.append(_save(fig, folder / "token-calls.png", plt))

    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.9), 4))
    width = 0.27
    xs = range(len(rows))
    for k, (name, attr) in enumerate((("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))):
        ax.bar(
            [x + (k - 1) * width for x in xs], [getattr(r, attr) for r in rows], width, label=name
        )
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_ylabel("ms")
    ax.set_title("Latency seen by users")
    ax.legend()
    fig.tight_layout()
    paths.append(_save(fig, folder / "latency.png", plt))

    if timelines:
        fig, axes = plt.subplots(len(timelines), 1, figsize=(8, 1.8 * len(timelines)), sharex=True)
        for ax, (strategy, times) in zip(
            axes if len(timelines) > 1 else [axes], timelines.items(), strict=True
        ):
            for level, (node, points) in enumerate(sorted(times.items())):
                ax.scatter(points, [level] * len(points), s=12, label=node)
            ax.set_yticks(range(len(times)), sorted(times))
            ax.set_title(f"token calls over time: {strategy}", fontsize=9)
        axes_list = axes if len(timelines) > 1 else [axes]
        axes_list[-1].set_xlabel(time_label)
        fig.tight_layout()
        paths.append(_save(fig, folder / "token-calls-over-time.png", plt))
    return paths


def _save(fig: object, path: Path, plt: object) -> Path:
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[attr-defined]
    return path
