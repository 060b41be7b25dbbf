"""``python -m harness compare --virtual 7d [--publishers 3,10,50]``: the designs side by side
over simulated days, at one estate size or several.

Runs :func:`harness.virtual.simulation.simulate` for each size and design (two at a time, in
worker processes, each with its own virtual-time loop) and writes the same report as the
comparison on real processes, in ``reports/compare-virtual-<time>/``; with several sizes, plots
of token calls, Analytics calls per minute (against the rate limit) and 429s against the size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from core.durations import format_duration
from core.topology import Topology
from harness.designs import Design
from harness.report import build
from harness.report.answers import answers
from harness.report.model import Report
from harness.report.render import write_report
from harness.report.tables import glossary
from harness.results import Check, Fault, Row, Run, World, per_node_summary
from harness.virtual.outcome import VirtualResult
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings
from harness.virtual.timeline import LIFETIME, EventKind


def checks_of(result: VirtualResult) -> tuple[Check, ...]:
    """The virtual runs' invariants: what every design should achieve over the horizon."""
    nodes = max(len(result.token_calls_per_node), result.publishers)
    revocations = sum(1 for e in result.events if e.kind is EventKind.REVOCATION)
    allowed_401s = revocations * nodes * 4  # each node's next call(s) after a revocation
    return (
        Check("no user-visible errors", result.user_errors == 0, f"{result.user_errors} errors"),
        Check(
            "no more Analytics 401s than revocations cause",
            result.analytics_401s <= allowed_401s,
            f"{result.analytics_401s} (at most {allowed_401s})",
        ),
        Check(
            "no stampede",
            result.peak_concurrent_token_calls <= nodes,
            f"peak {result.peak_concurrent_token_calls} calls at once, {nodes} nodes",
        ),
        Check(
            "within Analytics' rate limit",
            result.analytics_429s == 0,
            f"{result.analytics_429s} 429s; peak {result.analytics_per_minute_peak}/min, "
            f"limit {result.analytics_limit_per_minute:g}/min",
        ),
    )


def run_of(result: VirtualResult, folder: Path) -> Run:
    return Run(row_of(result, folder), result.trace)


def row_of(result: VirtualResult, folder: Path) -> Row:
    served, fresh = result.served_during_ims_outage, result.fresh_during_ims_outage
    return Row(
        design=result.design,
        world=World.VIRTUAL,
        scenario=result.scenario,
        publishers=result.publishers,
        sticky=None,
        checks=checks_of(result),
        requests=result.requests,
        user_errors=result.user_errors,
        stale_responses=result.stale,
        token_calls=result.token_calls,
        token_calls_per_node=per_node_summary(result.token_calls_per_node),
        peak_concurrent_token_calls=result.peak_concurrent_token_calls,
        analytics_401s=result.analytics_401s,
        p50_ms=result.p50_ms,
        p95_ms=result.p95_ms,
        p99_ms=result.p99_ms,
        analytics_calls=result.analytics_calls,
        analytics_peak_per_minute=result.analytics_per_minute_peak,
        analytics_mean_per_minute=result.analytics_per_minute_mean,
        analytics_429s=result.analytics_429s,
        analytics_calls_per_hour=result.analytics_calls_per_hour,
        report_age_p50_s=result.report_age_p50_s,
        report_age_p99_s=result.report_age_p99_s,
        report_refresh_s=result.report_refresh,
        served_during_ims_outage=(
            None if served is None or fresh is None else f"{served:.0%} ({fresh:.0%} fresh)"
        ),
        recovery_s=result.recovery_s,
        token_calls_on_restart=result.token_calls_on_restart,
        token_calls_per_start=result.token_calls_per_start,
        horizon_s=result.horizon,
        lifetime_s=LIFETIME,
        run_folder=str(folder),
        wall_seconds=result.wall_seconds,
    )


def compare_virtual(
    base: Topology,
    designs: Sequence[Design],
    settings: VirtualSettings,
    out: Path,
    *,
    sizes: Sequence[int],
    workers: int = 2,
    folder: Path | None = None,
) -> tuple[Path, list[Run]]:
    """Every size x design, two at a time in worker processes. With ``folder`` None: a
    report of its own in ``out``."""
    own_report = folder is None
    if folder is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = out / f"compare-virtual-{stamp}-{settings.scenario}"
    folder.mkdir(parents=True, exist_ok=True)
    plan = [(replace(settings, publishers=n), d) for n in sizes for d in designs]
    results: list[VirtualResult] = []
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(plan)))) as pool:
        futures = [
            pool.submit(
                simulate,
                d,
                s,
                base,
                folder / f"{s.scenario}-{d.label}-{s.publishers}.log",
            )
            for s, d in plan
        ]
        for i, future in enumerate(futures, start=1):
            result = future.result()
            results.append(result)
            print(
                f"  [{i}/{len(plan)}] {result.design.label}, {result.publishers} publishers, "
                f"{format_duration(settings.horizon)} {settings.scenario}: simulated in "
                f"{result.wall_seconds:.1f} s",
                flush=True,
            )
    runs = [run_of(r, folder) for r in results]
    if own_report:
        section = build.section(
            folder,
            settings.scenario,
            f"{format_duration(settings.horizon)} in virtual time: {settings.scenario}",
            virtual_intro(settings, runs, base),
            runs,
            mechanism=len(runs) <= 12,
            scaling=len({r.publishers for r in results}) > 1,
        )
        write_report(
            folder,
            Report(
                f"Token strategies compared: {format_duration(settings.horizon)} in virtual time",
                f"{len(runs)} runs of the node's real token code in virtual time.",
                answers([section]),
                (section,),
                glossary(),
            ),
        )
    return folder, runs


def timeline_text(faults: Sequence[Fault]) -> str:
    """What happens in a run, each with when it starts and how long it lasts (never past the
    end of the run: :mod:`harness.virtual.timeline` clips them)."""
    return (
        "; ".join(
            f"{f.label} at {f.start / 3600:.0f} h"
            + (f" for {format_duration(round(f.end - f.start))}" if f.end > f.start else "")
            for f in faults
        )
        or "nothing: the estate as it is"
    )


def cadence_text(seconds: float) -> str:
    """``every 30m``, or ``on every page load`` for 0."""
    return "on every page load" if seconds <= 0 else f"every {format_duration(seconds)}"


def virtual_intro(settings: VirtualSettings, runs: Sequence[Run], topology: Topology) -> str:
    sizes = sorted({r.row.publishers for r in runs})
    traces = [r.trace for r in runs if r.trace is not None]
    limit = topology.simulation.analytics.rate_limit
    allowed = (
        f"an Analytics that allows {limit.requests * 60 / limit.per:g} calls a minute per "
        "client, as Adobe's does"
        if limit.enabled
        else "an Analytics without a rate limit"
    )
    latency = topology.simulation.analytics.latency
    took = (
        f"Analytics' reports take {format_duration(latency.median)} at the median and "
        f"{format_duration(latency.p99)} at the 99th percentile, slower with each call in "
        f"flight, cut at {format_duration(latency.gateway_timeout)} by its gateway"
        if settings.latency and latency.enabled
        else "Analytics answers at once"
    )
    cadence = topology.analytics.report_refresh if settings.refresh is None else settings.refresh
    faults = traces[0].faults if traces else ()
    return (
        f"The node's real token code (providers, coordinators, sealed files, the shared store) "
        f"for {format_duration(settings.horizon)} of virtual time, against an in-process IMS "
        f"granting the real {LIFETIME} s lifetime, with {', '.join(map(str, sizes))} "
        f"publishers. The site's traffic is {settings.rate:g} page requests per second per "
        f"publisher of the start. Each publisher asks for its report {cadence_text(cadence)} "
        f"(its own policy: jitter, hold after a failure, back-off after a 429) against "
        f"{allowed}; {took}; IMS takes {settings.ims_latency * 1000:.0f} ms. What happens, the "
        f"same for every design: {timeline_text(faults)}. Latency is how long a page waited "
        "for its data (0 when a report was there). The checks: no user errors, no more "
        "Analytics 401s than the revocation causes, no more token calls at once than there "
        "are nodes, no Analytics 429s."
    )
