"""``python -m harness compare``: the same scenarios, on a fresh estate, for each token strategy
(and with stickiness on and off), side by side.

Writes ``reports/compare-<time>/``: ``report.md``, a self-contained ``report.html`` (figures
inlined), ``results.csv`` and ``results.json``, the figures as PNG, and each run's own folder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.topology import Topology
from harness.designs import Design
from harness.load.options import LoadOptions
from harness.load.run import run_scenario
from harness.load.scenarios import SCENARIOS
from harness.load.verdict import Verdict
from harness.report import build
from harness.report.answers import answers
from harness.report.build import slug
from harness.report.model import Report
from harness.report.render import write_report
from harness.report.tables import glossary
from harness.results import Row, Run, World, per_node_summary


def run_of(design: Design, sticky: bool, verdict: Verdict) -> Run:
    return Run(row_of(design, sticky, verdict), verdict.data.trace)


def row_of(design: Design, sticky: bool, verdict: Verdict) -> Row:
    d = verdict.data
    leaks = sum(n for r, n in d.locust.failures_by_reason.items() if "token leaked" in r)
    per_node = {n: d.tokens_issued(n) for n in d.holders}
    recovery = d.measured.recovery_s
    restart = d.measured.restart_of("p2")
    per_start = d.measured.token_calls_per_start
    by_outcome = d.analytics.get("by_outcome", {})
    return Row(
        design=design,
        world=World.REAL,
        scenario=verdict.scenario,
        publishers=len(d.publishers),
        sticky=sticky,
        checks=verdict.checks,
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
        token_calls_on_restart=None if restart is None else float(restart.token_calls),
        token_calls_per_start=None if per_start is None else round(per_start, 2),
        session_moves=sum(d.locust.moves.values()),
        token_leaks=leaks,
        horizon_s=d.duration,
        lifetime_s=d.lifetime,
        run_folder=str(verdict.folder),
    )


async def compare(
    base: Topology,
    *,
    designs: Sequence[Design],
    sticky_modes: Sequence[bool],
    scenarios: Sequence[str],
    options: LoadOptions,
    folder: Path | None = None,
) -> tuple[Path, list[Run]]:
    """Every design x stickiness x scenario on a fresh estate, one after the other (they
    would share the machine's cores otherwise). With ``folder`` None: a report of its own."""
    own_report = folder is None
    if folder is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = options.out / f"compare-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    plan = [RunCell(d, sticky, sc) for sc in scenarios for sticky in sticky_modes for d in designs]
    runs = await run_cells(base, plan, options, folder)
    if own_report:
        sections = [
            build.section(
                folder,
                slug(scenario),
                f"{scenario}, on real processes",
                real_intro(options, SCENARIOS[scenario].summary, runs[0].row.publishers),
                [r for r in runs if r.row.scenario == scenario],
            )
            for scenario in scenarios
        ]
        write_report(
            folder,
            Report(
                "Token strategies compared on real processes",
                f"{len(runs)} runs, each on a fresh estate.",
                answers(sections),
                tuple(sections),
                glossary(),
            ),
        )
    return folder, runs


def real_intro(options: LoadOptions, summary: str, publishers: int, at_once: int = 1) -> str:
    together = (
        f" The runs went {at_once} at a time, each estate on its own ports: a visitor's "
        "latency includes the other estate's share of the 2 cores; the token figures and the "
        "verdicts do not depend on it."
        if at_once > 1
        else ""
    )
    return (
        f"Each run on a fresh estate of {publishers} publishers behind their dispatchers and "
        f"the load balancer: {summary}; {options.users} Locust users; tokens that live "
        f"{options.lifetime} s (IMS latency {options.ims_latency * 1000:.0f} ms), so that a "
        "run crosses several expiries in seconds. User errors are failed or wrong replies seen "
        f"by the Locust visitors, and latency is theirs.{together}"
    )


@dataclass(frozen=True, slots=True)
class RunCell:
    """One run of a comparison: a design, with stickiness on or off, under a scenario."""

    design: Design
    sticky: bool
    scenario: str

    @property
    def label(self) -> str:
        return f"{self.design.label}{'' if self.sticky else ' (stickiness off)'} x {self.scenario}"


async def run_cells(
    base: Topology,
    cells: Sequence[RunCell],
    options: LoadOptions,
    folder: Path,
    *,
    at_once: int = 1,
) -> list[Run]:
    """Each cell on a fresh estate of its own, ``at_once`` of them at a time (in the order
    given; the runs come back in that order). Estates start one at a time: the next one takes
    its ports once the one before listens on its own, so two never pick the same free port;
    a scenario that starts services later, on ports taken at its start, runs alone."""
    if any(SCENARIOS[cell.scenario].binds_later for cell in cells):
        at_once = 1
    slots = asyncio.Semaphore(max(1, at_once))
    starting = asyncio.Lock()

    async def one(index: int, cell: RunCell) -> Run:
        async with slots:
            await starting.acquire()
            gate = _Gate(starting)
            try:
                print(
                    f"  [{index}/{len(cells)}] {progress_bar(index - 1, len(cells))} {cell.label}",
                    flush=True,
                )
                run_options = replace(
                    options, design=cell.design, sticky=cell.sticky, out=folder / "runs"
                )
                verdict = await run_scenario(
                    base, SCENARIOS[cell.scenario], run_options, on_started=gate.open
                )
            finally:
                gate.open()
            return run_of(cell.design, cell.sticky, verdict)

    tasks = [asyncio.create_task(one(i, c)) for i, c in enumerate(cells, start=1)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:  # one failed run stops the others; its own error is the one raised
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@dataclass
class _Gate:
    """The start-up lock of one run, released once (when its estate is up, or it ended)."""

    lock: asyncio.Lock
    opened: bool = False

    def open(self) -> None:
        if not self.opened:
            self.opened = True
            self.lock.release()


def progress_bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"
