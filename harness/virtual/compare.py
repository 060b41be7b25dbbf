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
from harness.report import HOW_TO_READ, write_report
from harness.results import Check, Row, per_node_summary
from harness.virtual.scaling import scaling_plots
from harness.virtual.simulation import VirtualResult, VirtualSettings, simulate
from harness.virtual.timeline import LIFETIME


def checks_of(result: VirtualResult) -> tuple[Check, ...]:
    """The virtual runs' invariants: what every design should achieve over the horizon."""
    nodes = max(len(result.token_calls_per_node), result.publishers)
    revocations = sum(1 for e in result.events if e.name.startswith("IMS revokes"))
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


def row_of(result: VirtualResult, folder: Path) -> Row:
    served, fresh = result.served_during_ims_outage, result.fresh_during_ims_outage
    return Row(
        design=result.design,
        scenario=f"{format_duration(result.horizon)} {result.scenario} (virtual)",
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
        served_during_ims_outage=(
            None if served is None or fresh is None else f"{served:.0%} ({fresh:.0%} fresh)"
        ),
        recovery_s=result.recovery_s,
        token_calls_on_restart=result.token_calls_on_restart,
        token_calls_per_start=result.token_calls_per_start,
        run_folder=str(folder),
        wall_seconds=result.wall_seconds,
    )


def compare_virtual(
    base: Topology,
    designs: Sequence[Design],
    settings: VirtualSettings,
    out: Path,
    *,
    sizes: Sequence[int | None] = (None,),
    workers: int = 2,
) -> tuple[Path, list[Row], list[VirtualResult]]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out / f"compare-virtual-{stamp}"
    folder.mkdir(parents=True)
    runs = [(replace(settings, publishers=n), d) for n in sizes for d in designs]
    results: list[VirtualResult] = []
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(runs)))) as pool:
        futures = [
            pool.submit(
                simulate, d, s, base, folder / f"{d.label}-{s.publishers or 'topology'}.log"
            )
            for s, d in runs
        ]
        for i, future in enumerate(futures, start=1):
            result = future.result()
            results.append(result)
            print(
                f"[{i}/{len(runs)}] {result.design}, {result.publishers} publishers: "
                f"{format_duration(settings.horizon)} simulated in {result.wall_seconds:.1f} s",
                flush=True,
            )
    rows = [row_of(r, folder) for r in results]
    timelines = {
        f"{r.design} ({r.publishers})": r.token_call_times for r in results if r.publishers <= 12
    }
    extra = scaling_plots(folder, results) if len({r.publishers for r in results}) > 1 else []
    write_report(
        folder,
        rows,
        timelines,
        intro=_intro(settings, results),
        time_label="hours",
        extra_plots=extra,
    )
    return folder, rows, results


def _intro(settings: VirtualSettings, results: Sequence[VirtualResult]) -> str:
    events = "; ".join(
        f"{e.name}{' (' + ', '.join(e.nodes) + ')' if e.nodes else ''} at {e.at / 3600:.0f} h"
        + (f" for {format_duration(e.duration)}" if e.duration else "")
        for e in results[0].events
    )
    sizes = sorted({r.publishers for r in results})
    limit = results[0].analytics_limit_per_minute
    return (
        f"# Token strategies compared: {format_duration(settings.horizon)} in virtual time\n\n"
        f"Each design ran the node's real token code (providers, coordinators, sealed files, "
        f"the shared store) for {format_duration(settings.horizon)} of simulated time against "
        f"an in-process IMS granting the real {LIFETIME} s lifetime, with "
        f"{', '.join(map(str, sizes))} publishers; the site's traffic is {settings.rate:g} "
        f"page requests per second per publisher of the start; reports follow the node's own "
        f"policy (cache, hold after a failure, back-off after a 429) against an Analytics that "
        f"allows {limit:g} calls a minute per client, as Adobe's does. IMS latency "
        f"{settings.ims_latency * 1000:.0f} ms, Analytics latency "
        f"{settings.analytics_latency * 1000:.0f} ms. The timeline ({settings.scenario}), the "
        f"same for every design: {events}.\n\n"
        f"{HOW_TO_READ} Latency counts cache hits as 0 ms, so p99 shows the report refills. "
        "The invariants held are: no user errors; no more Analytics 401s than the revocation "
        "causes; no more token calls at once than there are nodes; no Analytics 429s."
    )
