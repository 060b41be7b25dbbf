"""``python -m harness compare --virtual 7d``: the designs side by side over a simulated week.

Runs :func:`harness.virtual.simulation.simulate` for each design (two at a time, in worker
processes, each with its own virtual-time loop) and writes the same report as the comparison
on real processes, in ``reports/compare-virtual-<time>/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from core.durations import format_duration
from core.topology import Topology
from harness.designs import Design
from harness.report import HOW_TO_READ, Row, write_report
from harness.virtual.simulation import (
    LIFETIME,
    NODES,
    VirtualResult,
    VirtualSettings,
    simulate,
    timeline,
)


def row_of(result: VirtualResult, settings: VirtualSettings, folder: Path) -> Row:
    checks = (
        result.user_errors == 0,
        # Revocation makes every node's next call fail once; more 401s mean a token was used
        # after it expired or was refused.
        result.analytics_401s <= len(NODES) * settings.burst,
        result.peak_concurrent_token_calls <= len(NODES),
    )
    served, fresh = result.served_during_ims_outage, result.fresh_during_ims_outage
    return Row(
        strategy=result.design,
        sticky=True,
        scenario=f"{format_duration(result.horizon)} (virtual)",
        passed=sum(checks),
        invariants=len(checks),
        requests=result.requests,
        user_errors=result.user_errors,
        token_calls=result.token_calls,
        token_calls_per_node=" ".join(f"{n}:{c}" for n, c in result.token_calls_per_node.items()),
        peak_concurrent_token_calls=result.peak_concurrent_token_calls,
        analytics_401s=result.analytics_401s,
        stale_responses=result.stale,
        p50_ms=result.p50_ms,
        p95_ms=result.p95_ms,
        p99_ms=result.p99_ms,
        recovery_s=result.recovery_s,
        token_calls_on_restart=result.token_calls_on_restart,
        run_folder=str(folder),
        served_during_ims_outage=(
            None if served is None or fresh is None else f"{served:.0%} ({fresh:.0%} fresh)"
        ),
    )


def compare_virtual(
    base: Topology,
    designs: Sequence[Design],
    settings: VirtualSettings,
    out: Path,
    *,
    workers: int = 2,
) -> tuple[Path, list[Row], list[VirtualResult]]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out / f"compare-virtual-{stamp}"
    folder.mkdir(parents=True)
    results: list[VirtualResult] = []
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(designs)))) as pool:
        futures = [
            pool.submit(simulate, d, settings, base, folder / f"{d.label}.log") for d in designs
        ]
        for i, future in enumerate(futures, start=1):
            result = future.result()
            results.append(result)
            print(
                f"[{i}/{len(designs)}] {result.design}: {format_duration(settings.horizon)} "
                f"simulated in {result.wall_seconds:.1f} s",
                flush=True,
            )
    rows = [row_of(r, settings, folder) for r in results]
    timelines = {r.design: r.token_call_times for r in results}
    write_report(folder, rows, timelines, intro=_intro(settings), time_label="hours")
    return folder, rows, results


def _intro(settings: VirtualSettings) -> str:
    events = "; ".join(
        f"{e.name} at {e.at / 3600:.0f} h"
        + (f" for {format_duration(e.duration)}" if e.duration else "")
        for e in timeline(settings.horizon)
    )
    return (
        f"# Token strategies compared: {format_duration(settings.horizon)} in virtual time\n\n"
        f"Each design ran the node's real token code (providers, coordinators, sealed files, "
        f"report cache) for {format_duration(settings.horizon)} of simulated time against an "
        f"in-process IMS granting the real {LIFETIME} s lifetime, with {len(NODES)} nodes, "
        f"{settings.rate:g} page requests per second per node, a report cache of "
        f"{format_duration(settings.tick)} refilled by {settings.burst} concurrent requests, "
        f"IMS latency {settings.ims_latency * 1000:.0f} ms and Analytics latency "
        f"{settings.analytics_latency * 1000:.0f} ms. Scheduled faults, the same for every "
        f"design: {events}.\n\n"
        f"{HOW_TO_READ} Latency counts cache hits as 0 ms, so p99 shows the report refills. "
        "The invariants held are: no user errors; no more Analytics 401s than the revocation "
        "causes; no more token calls at once than there are nodes."
    )
