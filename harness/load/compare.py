"""``python -m harness compare``: the same scenarios, on a fresh estate, for each token strategy
(and with stickiness on and off), side by side.

Writes ``reports/compare-<time>/``: ``report.md``, a self-contained ``report.html`` (plots
inlined), ``results.csv`` and ``results.json``, PNG plots, and each run's own report folder.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.designs import Design
from harness.load.run import LoadOptions, Verdict, run_scenario
from harness.load.scenarios import SCENARIOS
from harness.report import HOW_TO_READ, write_report
from harness.results import Check, Row, per_node_summary


def row_of(design: str, sticky: bool, verdict: Verdict) -> Row:
    d = verdict.data
    per_node = {n: d.tokens_issued(n) for n in d.publishers}
    recovery = d.measured.get("recovery seconds")
    by_outcome = d.analytics.get("by_outcome", {})
    return Row(
        design=design,
        scenario=verdict.scenario,
        publishers=len(d.publishers),
        sticky=sticky,
        checks=tuple(Check(name, ok, measured) for name, ok, measured in verdict.rows),
        requests=d.locust.requests,
        user_errors=d.locust.failures,
        token_calls=sum(per_node.values()),
        token_calls_per_node=per_node_summary(per_node),
        peak_concurrent_token_calls=int(d.ims.get("peak_in_flight", 0)),
        analytics_401s=sum(d.analytics.get("unauthorized_by_caller", {}).values()),
        analytics_calls=int(d.analytics.get("requests", 0)),
        analytics_429s=int(by_outcome.get("throttled", 0)),
        stale_responses=d.stale_served(),
        p50_ms=round(d.locust.p50_ms, 1),
        p95_ms=round(d.locust.p95_ms, 1),
        p99_ms=round(d.locust.p99_ms, 1),
        recovery_s=None if recovery is None or math.isinf(recovery) else round(recovery, 1),
        token_calls_on_restart=d.measured.get("token calls when p2 restarted"),
        token_calls_per_start=(
            round(d.measured["token calls at instance starts"] / starts, 2)
            if (starts := d.measured.get("instance starts"))
            else None
        ),
        run_folder=str(verdict.folder),
    )


async def compare(
    base: Path,
    *,
    designs: Sequence[Design],
    sticky_modes: Sequence[bool],
    scenarios: Sequence[str],
    options: LoadOptions,
) -> tuple[Path, list[Row], dict[str, dict[str, list[float]]]]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = options.out / f"compare-{stamp}"
    folder.mkdir(parents=True)
    runs = [(d, sticky, sc) for d in designs for sticky in sticky_modes for sc in scenarios]
    rows: list[Row] = []
    timelines: dict[str, dict[str, list[float]]] = {}
    for i, (design, sticky, scenario) in enumerate(runs, start=1):
        label = f"{design.label}{'' if sticky else ' (unsticky)'} x {scenario}"
        print(f"[{i}/{len(runs)}] {_bar(i - 1, len(runs))} {label}", flush=True)
        run_options = replace(options, design=design, sticky=sticky, out=folder / "runs")
        verdict = await run_scenario(base, SCENARIOS[scenario], run_options)
        rows.append(row_of(design.label, sticky, verdict))
        if scenario == scenarios[0] and sticky == sticky_modes[0]:
            timelines[design.label] = _token_call_times(verdict)
    print(f"[{len(runs)}/{len(runs)}] {_bar(len(runs), len(runs))} done", flush=True)
    intro = (
        f"# Token strategies compared\n\n{len(rows)} runs, each on a fresh estate of "
        f"{rows[0].publishers} publishers behind dispatchers and the "
        f"load balancer; {options.users} Locust users; token lifetime {options.lifetime}s; "
        f"IMS latency {options.ims_latency * 1000:.0f} ms.\n\n{HOW_TO_READ} Here user errors "
        "are failed or invalid replies seen by Locust visitors, and latency is theirs. With "
        'stickiness off, the "sessions stay" invariant fails by design.'
    )
    write_report(folder, rows, timelines, intro=intro)
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
