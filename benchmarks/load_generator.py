"""The load generator's ceiling: requests per second that Locust drives through the estate
(load balancer -> dispatcher -> publisher) as one process against Locust's distributed mode
with 2 workers, and with ``HttpUser`` (``Visitor``) against ``FastHttpUser``
(``FastVisitor``).

The same estate (``python -m harness up``, dispatcher cache on) for every run, the visitors of
``loadtests/locustfile.py`` without think time (``--think-time 0,0``), so that each run goes as
fast as its generator can; Locust's own requests/s (its aggregated row). Nothing is pinned:
on 2 cores the generator and the estate share them, as they do in ``harness load``.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.estate import harness_up
from benchmarks.figures import Figure
from harness.load.locust_run import LocustResult, Workers, run_locust

USERS = 60
RUNS = (
    ("Visitor", 0),
    ("Visitor", 2),
    ("FastVisitor", 0),
    ("FastVisitor", 2),
)
CLIENT = {"Visitor": "HttpUser", "FastVisitor": "FastHttpUser"}


def run(seconds: float) -> tuple[list[Figure], dict[str, Any]]:
    length = max(10.0, 2 * seconds)
    measured: dict[tuple[str, int], tuple[float, LocustResult]] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with harness_up(work / "estate", dispatcher_cache=True) as estate:
            for user_class, workers in RUNS:
                out = work / f"{user_class}-{workers}"
                out.mkdir()
                result = asyncio.run(
                    run_locust(
                        estate.lb,
                        out,
                        users=USERS,
                        seconds=length,
                        user_class=user_class,
                        think_time="0,0",
                        workers=Workers(count=workers),
                    )
                )
                measured[(user_class, workers)] = (requests_per_second(out), result)
    figures = [
        _figure(measured, ("Visitor", 2), ("Visitor", 0)),
        _figure(measured, ("FastVisitor", 0), ("Visitor", 0)),
        _figure(measured, ("FastVisitor", 2), ("FastVisitor", 0)),
    ]
    raw = {
        f"{user_class}, {_how(workers)}": {
            "requests_per_s": rps,
            "requests": result.requests,
            "failures": result.failures,
            "worker_exits": [e.describe() for e in result.worker_exits],
        }
        for (user_class, workers), (rps, result) in measured.items()
    }
    return figures, {"users": USERS, "seconds": length, "runs": raw}


def requests_per_second(out: Path) -> float:
    """Locust's own figure: requests over the time they were made (its aggregated row)."""
    with (out / "locust_stats.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"] or 0)
    return 0.0


def _figure(
    measured: dict[tuple[str, int], tuple[float, LocustResult]],
    run: tuple[str, int],
    baseline: tuple[str, int],
) -> Figure:
    value, result = measured[run]
    base_value, _ = measured[baseline]
    return Figure(
        "load generator",
        f"steady visitors through the estate, {CLIENT[run[0]]}, {_how(run[1])}",
        value,
        "req/s",
        f"{CLIENT[baseline[0]]}, {_how(baseline[1])}",
        base_value,
        note=f"{USERS} users, no think time, {result.failures} failures",
    )


def _how(workers: int) -> str:
    return f"master + {workers} workers" if workers else "1 process"
