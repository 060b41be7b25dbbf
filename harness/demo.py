"""``python -m harness demo`` (``make demo``): the runs that answer the thread's questions, and
one report with the answers at the top.

1. On real processes (IMS, Analytics, publishers, dispatchers, the balancer, Locust): every
   design under the ``expiry-storm`` scenario with short tokens, and per-node once more with
   stickiness off, two estates at a time (each keeps a fraction of a core busy).
2. In virtual time with the real 24 h lifetime: a week of faults for every design; the
   estate at 3, 10 and 50 publishers with the report on Adobe's cadence and again on every
   page load (the widget Adobe advises against); AEM as a Cloud Service's autoscaling (and a
   short real autoscale run); the map: every design at every size and report cadence.

Writes ``reports/demo-<time>/`` (``report.html``, ``report.md``, the data and every run's own
folder) and prints the answers. ``--quick`` runs a smaller plan (for the tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from core.durations import format_duration, parse_duration
from core.topology import Topology
from harness.designs import Design, parse_designs
from harness.fixed_iv import demonstrate
from harness.load.compare import RunCell, real_intro, run_cells
from harness.load.options import LoadOptions
from harness.load.scenarios import SCENARIOS
from harness.map import defaults as map_defaults
from harness.map.cells import MapPlan
from harness.map.command import answer as map_answer
from harness.map.command import measure
from harness.map.command import section as map_section
from harness.report import build
from harness.report.answers import answers
from harness.report.drawing import FigurePool
from harness.report.model import Answer, Report, Section, plain_text
from harness.report.render import write_report
from harness.report.tables import glossary
from harness.results import Run
from harness.virtual.compare import compare_virtual, virtual_intro
from harness.virtual.settings import VirtualSettings
from lb.cdn.main import find_varnishd


@dataclass(frozen=True, slots=True)
class DemoPlan:
    designs: str = (
        "per-node,shared,replicated,scheduled@1.25,aem-ims,hourly,author-report,edge-cached,naive"
    )
    scenario: str = "expiry-storm"
    lifetime: int = 5  # seconds, on real processes
    users: int = 20
    unsticky: str = "per-node"  # run again with stickiness off
    at_once: int = 2  # real runs at a time: one at a time, the demo used under 1/4 of 2 cores
    real_autoscale: str = "per-node"  # shared: 0 calls per start, in the virtual week
    autoscale_lifetime: int = 4
    week: str = "7d"
    week_designs: str = (
        "per-node,shared,replicated,scheduled,scheduled@1.25,aem-ims,aem-ims@0,hourly,"
        "author-report,edge-cached,naive"
    )
    sizes: tuple[int, ...] = (3, 10, 50)
    size_designs: str = "per-node,per-node+shared-report,shared,author-report,edge-cached"
    size_horizon: str = "2d"
    page_load_horizon: str = "6h"  # the same sizes with a report on every page load
    autoscale_designs: str = (
        "per-node,shared,replicated,aem-ims,hourly,author-report,edge-cached,per-node+shared-report"
    )
    map_designs: str = map_defaults.DESIGNS  # the map's own defaults (harness.map.defaults)
    map_cadences: tuple[float, ...] = map_defaults.CADENCES
    map_horizon: str = "7d"  # each cell a virtual week of the standard faults

    @classmethod
    def quick(cls) -> DemoPlan:
        """Every step, smaller: for tests (about a minute)."""
        return cls(
            designs="per-node,shared",
            lifetime=3,
            users=8,
            real_autoscale="per-node",
            autoscale_lifetime=3,
            week="1d",
            week_designs="per-node,scheduled@1.25",
            sizes=(3, 12),
            size_designs="per-node,per-node+shared-report",
            size_horizon="2h",
            page_load_horizon="20m",
            autoscale_designs="per-node,shared",
            map_designs="per-node,per-node+shared-report",
            map_cadences=(0.0, 1800.0),
            map_horizon="1d",
        )


async def demo(topology: Topology, plan: DemoPlan, out: Path, log_level: str) -> Path:
    started = time.monotonic()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out / f"demo-{stamp}"
    folder.mkdir(parents=True)
    steps = 6
    options = LoadOptions(
        design=Design.of(topology),  # each run takes one of the plan's designs
        users=plan.users,
        lifetime=plan.lifetime,
        out=out,
        free_ports=True,
        log_level=log_level,
    )
    scenario = SCENARIOS[plan.scenario]

    async def real_runs(cells: Sequence[RunCell], options: LoadOptions) -> list[Run]:
        return await run_cells(topology, cells, options, folder / "real", at_once=plan.at_once)

    designs = plan.designs
    if find_varnishd() is None and "edge-cached" in designs:  # Varnish is optional
        designs = ",".join(d for d in designs.split(",") if d != "edge-cached")
        print("edge-cached runs in virtual time only: varnishd is not installed", flush=True)
    _step(
        1,
        steps,
        f"real processes, {plan.at_once} at a time: {designs} under {plan.scenario}, "
        f"and {plan.unsticky} with stickiness off",
        started,
    )
    both = await real_runs(
        [
            *(RunCell(d, True, plan.scenario) for d in parse_designs(designs)),
            *(RunCell(d, False, plan.scenario) for d in parse_designs(plan.unsticky)),
        ],
        options,
    )
    real = [r for r in both if r.row.sticky]
    unsticky = [r for r in both if not r.row.sticky]

    _step(2, steps, f"virtual time: {plan.week} of faults, {plan.week_designs}", started)
    week_settings = VirtualSettings(horizon=parse_duration(plan.week), scenario="faults")
    week = await _virtual(topology, plan.week_designs, week_settings, folder)

    _step(3, steps, f"virtual time: {', '.join(map(str, plan.sizes))} publishers", started)
    size_settings = VirtualSettings(horizon=parse_duration(plan.size_horizon), scenario="steady")
    sizes = await _virtual(topology, plan.size_designs, size_settings, folder, plan.sizes)

    _step(4, steps, "virtual time: the same sizes, a report on every page load", started)
    load_settings = VirtualSettings(
        horizon=parse_duration(plan.page_load_horizon), scenario="steady", refresh=0.0
    )
    page_load = await _virtual(topology, "per-node", load_settings, folder, plan.sizes)

    _step(5, steps, "autoscaling: virtual week and real processes", started)
    scale_settings = VirtualSettings(horizon=parse_duration(plan.week), scenario="autoscale")
    scaled = await _virtual(topology, plan.autoscale_designs, scale_settings, folder)
    scaled_real = await real_runs(
        [RunCell(d, True, "autoscale") for d in parse_designs(plan.real_autoscale)],
        replace(options, lifetime=plan.autoscale_lifetime),
    )

    _step(6, steps, "the map: designs x publishers x report cadence", started)
    map_plan = MapPlan(
        parse_designs(plan.map_designs),
        plan.sizes,
        plan.map_cadences,
        horizon=parse_duration(plan.map_horizon),
    )
    mapped = await asyncio.to_thread(measure, topology, map_plan)

    print(f"writing the report ({_elapsed(started)})", flush=True)
    per_node_on = [r for r in real if r.row.design in {u.row.design for u in unsticky}]
    with FigurePool() as pool:  # some 45 figures, on both cores
        section = partial(build.section, draw=pool.draw)

        def by_size(anchor: str, title: str, intro: str, runs: list[Run]) -> Section:
            """Runs at every size: the largest estate drawn over time, and what size changes."""
            largest = [r for r in runs if r.row.publishers == max(plan.sizes)]
            return section(folder, anchor, title, intro, runs, mechanism_of=largest, scaling=True)

        sections = (
            section(
                folder,
                "real",
                f"On real processes: {plan.scenario}",
                real_intro(options, scenario.summary, real[0].row.publishers, plan.at_once),
                real,
            ),
            section(
                folder,
                "stickiness",  # not "sticky": the sticky-sessions answer's own anchor
                "Sticky sessions on and off",
                "The same run with the balancer's stickiness off: each request may land on any "
                "publisher (a session move is a page that came from another publisher than the "
                "visitor's previous one). The run with stickiness on is the one above.",
                [*per_node_on, *unsticky],
                mechanism_of=unsticky,
            ),
            section(
                folder,
                "week",
                f"A week in virtual time: {format_duration(week_settings.horizon)} of faults",
                virtual_intro(week_settings, week, topology),
                week,
            ),
            by_size(
                "sizes",
                "As the estate grows: " + ", ".join(f"{n}" for n in plan.sizes) + " publishers",
                virtual_intro(size_settings, sizes, topology)
                + " The figures show the largest estate.",
                sizes,
            ),
            by_size(
                "page-load",
                "The widget Adobe advises against: a report on every page load",
                virtual_intro(load_settings, page_load, topology)
                + " Adobe's Analytics FAQ asks for the opposite (docs/world.md); this shows why.",
                page_load,
            ),
            section(
                folder,
                "autoscale",
                "AEM as a Cloud Service: autoscaling and empty disks",
                virtual_intro(scale_settings, scaled, topology)
                + " Then on real processes: the tier scales from 3 publishers to 6, in to 2, out "
                "to 3 and two instances are recycled, each new one with an empty disk and "
                f"registered with the balancer when healthy ({plan.autoscale_lifetime} s tokens).",
                [*scaled, *scaled_real],
            ),
        )
        with_map = (*sections, map_section(mapped, folder, pool.draw))
    found = (*answers(with_map, fixed_iv=demonstrate()), map_answer(mapped))
    report = Report(
        "What to do with the Adobe IMS token: measured",
        _summary(plan, with_map, time.monotonic() - started),
        found,
        with_map,
        glossary(),
    )
    page = write_report(folder, report)
    print(f"\nAnswers ({_elapsed(started)} in all)\n")
    print(terminal_answers(found))
    print(f"report: {page}")
    return page


async def _virtual(
    topology: Topology,
    designs: str,
    settings: VirtualSettings,
    folder: Path,
    sizes: Sequence[int] = (),
) -> list[Run]:
    """The virtual runs in worker processes, off the event loop."""
    parsed = parse_designs(designs)
    sizes = sizes or (len(topology.publishers),)
    return (
        await asyncio.to_thread(
            compare_virtual, topology, parsed, settings, folder, sizes=sizes, folder=folder
        )
    )[1]


def _summary(plan: DemoPlan, sections: Sequence[Section], seconds: float) -> str:
    runs = sum(len(s.runs) for s in sections)
    return (
        "An AEM site: publishers behind dispatchers and a load balancer, each showing "
        '"most visited pages" from Adobe Analytics with a server-to-server token from Adobe '
        f"IMS (`client_credentials`, 24 h). {runs} runs in {format_duration(round(seconds))}: "
        f"on real processes with {plan.lifetime} s tokens so that a run crosses several "
        "expiries, and in virtual time with the real lifetime over days. Every number below "
        "was measured by this run."
    )


def _step(number: int, total: int, what: str, started: float) -> None:
    print(f"[{number}/{total}] {what} ({_elapsed(started)})", flush=True)


def _elapsed(started: float) -> str:
    seconds = round(time.monotonic() - started)
    return f"{seconds // 60}:{seconds % 60:02d}"


def terminal_answers(found: Sequence[Answer]) -> str:
    """The answers as plain text: links become their words, tables stay as they are."""
    out = []
    for answer in found:
        text = plain_text(answer.text)
        head = f"* {answer.question} {answer.verdict}".rstrip()
        out.append(f"{head}\n  " + text.replace("\n", "\n  "))
    return "\n\n".join(out) + "\n"
