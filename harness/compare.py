"""``python -m harness compare``: the same scenarios, on a fresh estate, for each token strategy
(and with stickiness on and off), side by side.

Writes ``reports/compare-<time>/``: ``report.md``, a self-contained ``report.html`` (plots
inlined), ``results.csv`` and ``results.json``, PNG plots, and each run's own report folder.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness.load import LoadOptions, Verdict, run_scenario
from harness.scenarios import SCENARIOS

STRATEGIES = ("per-node", "shared", "scheduled", "naive")


@dataclass(frozen=True, slots=True)
class Row:
    strategy: str
    sticky: bool
    scenario: str
    passed: int
    invariants: int
    requests: int
    user_errors: int
    token_calls: int
    token_calls_per_node: str
    peak_concurrent_token_calls: int
    analytics_401s: int
    stale_responses: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    recovery_s: float | None
    token_calls_on_restart: float | None
    run_folder: str


def row_of(strategy: str, sticky: bool, verdict: Verdict) -> Row:
    d = verdict.data
    per_node = {n: d.tokens_issued(n) for n in d.publishers}
    recovery = d.measured.get("recovery seconds")
    return Row(
        strategy=strategy,
        sticky=sticky,
        scenario=verdict.scenario,
        passed=sum(ok for _, ok, _ in verdict.rows),
        invariants=len(verdict.rows),
        requests=d.locust.requests,
        user_errors=d.locust.failures,
        token_calls=sum(per_node.values()),
        token_calls_per_node=" ".join(f"{n}:{c}" for n, c in per_node.items()),
        peak_concurrent_token_calls=int(d.ims.get("peak_in_flight", 0)),
        analytics_401s=sum(d.analytics.get("unauthorized_by_caller", {}).values()),
        stale_responses=d.stale_served(),
        p50_ms=round(d.locust.p50_ms, 1),
        p95_ms=round(d.locust.p95_ms, 1),
        p99_ms=round(d.locust.p99_ms, 1),
        recovery_s=None if recovery is None or math.isinf(recovery) else round(recovery, 1),
        token_calls_on_restart=d.measured.get("token calls when p2 restarted"),
        run_folder=str(verdict.folder),
    )


async def compare(
    base: Path,
    *,
    strategies: Sequence[str],
    sticky_modes: Sequence[bool],
    scenarios: Sequence[str],
    options: LoadOptions,
) -> tuple[Path, list[Row], dict[str, dict[str, list[float]]]]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = options.out / f"compare-{stamp}"
    folder.mkdir(parents=True)
    runs = [(s, sticky, sc) for s in strategies for sticky in sticky_modes for sc in scenarios]
    rows: list[Row] = []
    timelines: dict[str, dict[str, list[float]]] = {}
    for i, (strategy, sticky, scenario) in enumerate(runs, start=1):
        label = f"{strategy}{'' if sticky else ' (unsticky)'} x {scenario}"
        print(f"[{i}/{len(runs)}] {_bar(i - 1, len(runs))} {label}", flush=True)
        run_options = replace(options, strategy=strategy, sticky=sticky, out=folder / "runs")
        verdict = await run_scenario(base, SCENARIOS[scenario], run_options)
        rows.append(row_of(strategy, sticky, verdict))
        if scenario == scenarios[0] and sticky == sticky_modes[0]:
            timelines[strategy] = _token_call_times(verdict)
    print(f"[{len(runs)}/{len(runs)}] {_bar(len(runs), len(runs))} done", flush=True)
    write_report(folder, rows, timelines, options)
    return folder, rows, timelines


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _token_call_times(verdict: Verdict) -> dict[str, list[float]]:
    d = verdict.data
    start = d.started_wall
    times: dict[str, list[float]] = {n: [] for n in d.publishers}
    for entry in d.ims.get("issued_log", []):
        if entry["caller"] in times:
            times[entry["caller"]].append(round(entry["at"] - start, 2))
    return times


COLUMNS = (
    ("strategy", "strategy"),
    ("sticky", "sticky"),
    ("scenario", "scenario"),
    ("invariants held", None),
    ("requests", "requests"),
    ("user errors", "user_errors"),
    ("token calls", "token_calls"),
    ("per node", "token_calls_per_node"),
    ("peak concurrent calls", "peak_concurrent_token_calls"),
    ("Analytics 401s", "analytics_401s"),
    ("stale", "stale_responses"),
    ("p50/p95/p99 ms", None),
    ("recovery s", "recovery_s"),
    ("calls on restart", "token_calls_on_restart"),
)


def table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = []
        for name, attr in COLUMNS:
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
    options: LoadOptions,
) -> None:
    (folder / "results.json").write_text(
        json.dumps({"rows": [asdict(r) for r in rows], "token_call_times": timelines}, indent=2)
    )
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    plots = _plots(folder, rows, timelines)
    intro = (
        f"# Token strategies compared\n\n{len(rows)} runs, each on a fresh estate of "
        f"{rows[0].token_calls_per_node.count(':')} publishers behind dispatchers and the "
        f"load balancer; {options.users} Locust users; "
        f"token lifetime {options.lifetime}s; IMS latency {options.ims_latency * 1000:.0f} ms.\n\n"
        "How to read it: *token calls* is what IMS issued to the nodes during the run "
        "(per-node should be about N times shared); *peak concurrent calls* above the number "
        "of nodes is a stampede; *user errors* are failed or invalid replies seen by Locust "
        "visitors; *stale* are replies served from the last good report; *recovery* is how "
        "long after IMS returned every node had a new token. With stickiness off, the "
        '"sessions stay" invariant fails by design.\n\n'
    )
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
        f"<h1>Token strategies compared</h1><p>{html.escape(intro.split(chr(10), 2)[2])}</p>"
        f"{body}{images}</body></html>"
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
    folder: Path, rows: Sequence[Row], timelines: dict[str, dict[str, list[float]]]
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    labels = [f"{r.strategy}{'' if r.sticky else '*'}\n{r.scenario}" for r in rows]
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
        axes_list[-1].set_xlabel("seconds since the load started")
        fig.tight_layout()
        paths.append(_save(fig, folder / "token-calls-over-time.png", plt))
    return paths


def _save(fig: object, path: Path, plt: object) -> Path:
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[attr-defined]
    return path
