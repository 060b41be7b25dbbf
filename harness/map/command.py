"""``python -m harness map [--designs ...] [--publishers 3,10,50] [--refresh page,1m,30m]
[--max-age 1h] [--max-seconds N]``: the map on its own, and the map as a section of a report
(``make demo`` adds it to its own)."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

from core.durations import format_duration
from core.topology import Topology
from harness.map.cells import MapPlan, run_cells
from harness.map.figure import map_figure
from harness.map.verdicts import Judged, Verdict, judge, table, where_it_flips
from harness.report.drawing import Draw, draw_now
from harness.report.model import Answer, Figure, Report, Section, plain_text
from harness.report.render import write_report
from harness.report.tables import glossary

# A "most visited pages" widget older than two hours at the 99th percentile: the standard
# faults' hour of Analytics outage on top of a half-hourly report stays below it.
MAX_AGE = 7200.0


@dataclass(frozen=True, slots=True)
class MapResult:
    judged: tuple[Judged, ...]
    max_age: float
    horizon: float
    seconds: float

    def sentences(self) -> list[str]:
        designs = dict.fromkeys(j.cell.design.label for j in self.judged)
        return [where_it_flips(self.judged, d) for d in designs]

    @property
    def not_run(self) -> int:
        return sum(j.verdict is Verdict.NOT_RUN for j in self.judged)


def measure(topology: Topology, plan: MapPlan, max_age: float = MAX_AGE) -> MapResult:
    started = time.monotonic()
    cells = run_cells(topology, plan)
    judged = tuple(judge(c, max_age) for c in cells)
    return MapResult(judged, max_age, plan.horizon, time.monotonic() - started)


def write_cells(found: MapResult, path: Path) -> Path:
    """Every cell's verdict and numbers, as JSON (the map's data file)."""
    cells = []
    for j in found.judged:
        r = j.result
        cells.append(
            {
                "design": j.cell.design.label,
                "publishers": j.cell.publishers,
                "report_refresh_s": j.cell.cadence,
                "verdict": j.verdict.label,
                **(
                    {}
                    if r is None
                    else {
                        "horizon_s": r.horizon,
                        "token_calls": r.token_calls,
                        "analytics_calls_per_hour": r.analytics_calls_per_hour,
                        "analytics_429s": r.analytics_429s,
                        "user_errors": r.user_errors,
                        "requests": r.requests,
                        "report_age_p50_s": r.report_age_p50_s,
                        "report_age_p99_s": r.report_age_p99_s,
                        "secrets_on_publish": r.publishers,  # every design here holds one each
                        "wall_seconds": r.wall_seconds,
                    }
                ),
            }
        )
    path.write_text(json.dumps({"max_age_s": found.max_age, "cells": cells}, indent=1))
    return path


def section(found: MapResult, folder: Path, draw: Draw = draw_now) -> Section:
    """The map as a report section: what it is, the figure, a sentence per design, the cells."""
    figure = draw(map_figure, found.judged, folder / "map.png")
    write_cells(found, folder / "map.json")
    skipped = (
        f" {found.not_run} cells were not run: the map's time bound came first."
        if found.not_run
        else ""
    )
    intro = (
        "Every design at every size and report cadence, in virtual time with the standard "
        "faults (an IMS outage, IMS errors, a revocation, a restart, an Analytics outage) and "
        "Analytics' latency. A cell is as bad as the worst thing in it: user errors, then "
        "Analytics 429s, then a report older than "
        f"{format_duration(found.max_age)} at the 99th percentile of what users saw. Each "
        f"cell runs for {format_duration(found.horizon)} with the same faults. "
        f"{len(found.judged)} cells in {format_duration(round(found.seconds))}.{skipped}\n\n"
        + "\n".join(f"* {s}" for s in found.sentences())
        + "\n\n"
        + table(found.judged)
    )
    return Section(
        "map",
        "Where each answer flips: designs x publishers x report cadence",
        intro,
        (),
        (
            Figure(
                figure,
                "map-figure",
                "One panel per design: publishers down, report cadence across, each cell "
                "coloured and labelled by its verdict.",
                "Green: acceptable; yellow: a stale report; orange: Analytics 429s; "
                "vermillion: user errors. Labels give the number behind the verdict.",
            ),
        ),
    )


def answer(found: MapResult) -> Answer:
    """The map's answer: which designs hold everywhere, and where each other one flips."""
    designs = list(dict.fromkeys(j.cell.design.label for j in found.judged))
    everywhere = [
        d
        for d in designs
        if all(j.verdict is Verdict.OK for j in found.judged if j.cell.design.label == d)
    ]
    sizes = sorted({j.cell.publishers for j in found.judged})
    verdict = (
        f"{', '.join(everywhere)}: acceptable in every cell, up to {sizes[-1]} publishers."
        if everywhere
        else "No design is acceptable in every cell."
    )
    text = (
        "Read from [the map](#map): every design at every size and report cadence, with the "
        "standard faults. " + " ".join(s if s.endswith(".") else s + "." for s in found.sentences())
    )
    return Answer("flips", "Where does each answer flip?", text, measured=True, verdict=verdict)


def write_map_report(found: MapResult, out: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out / f"map-{stamp}"
    folder.mkdir(parents=True)
    return write_report(
        folder,
        Report(
            "Where each answer flips",
            f"{len(found.judged)} virtual runs: every design at every size and cadence.",
            (answer(found),),
            (section(found, folder),),
            glossary(),
        ),
    )


def terminal_text(found: MapResult) -> str:
    return "\n".join(plain_text(s) for s in found.sentences())
