"""Run Locust headless as a separate process and read what it measured.

Locust runs on gevent, so it is never imported here: ``python -m locust`` is a child process,
like every service, and its CSV files (requests, failures, percentiles) and the locustfile's
``--moves-file`` (session moves, a statistic of its own) are the interface.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"


@dataclass
class LocustResult:
    requests: int = 0
    failures: int = 0
    failures_by_reason: Counter[str] = field(default_factory=Counter)
    moves: Counter[str] = field(default_factory=Counter)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    exit_code: int = 0


async def run_locust(
    host: str,
    out: Path,
    *,
    users: int,
    seconds: float,
    shape: str = "constant",
    token_lifetime: float = 10.0,
    user_class: str = "Visitor",
) -> LocustResult:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        user_class,
        "--shape",
        shape,
        "--token-lifetime",
        str(token_lifetime),
        "--moves-file",
        str(out / "session-moves.json"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{max(1, round(seconds))}s",
        "--host",
        host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "locust.html"),
        "--only-summary",
        "--stop-timeout",
        "2",
        "--loglevel",
        "WARNING",
    ]
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    (out / "locust.log").write_bytes(output)
    result = read_results(out)
    result.exit_code = proc.returncode or 0
    return result


def read_results(out: Path) -> LocustResult:
    result = LocustResult()
    stats = out / "locust_stats.csv"
    if not stats.exists():
        return result
    with stats.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] != "Aggregated":
                result.requests += int(row["Request Count"])
                result.failures += int(row["Failure Count"])
    result.p50_ms, result.p95_ms, result.p99_ms = _percentiles(stats)
    moves = out / "session-moves.json"
    if moves.exists():
        result.moves.update(json.loads(moves.read_text()))
    failures = out / "locust_failures.csv"
    if failures.exists():
        with failures.open() as handle:
            for row in csv.DictReader(handle):
                result.failures_by_reason[row["Error"]] += int(row["Occurrences"])
    return result


def _percentiles(stats: Path) -> tuple[float, float, float]:
    """p50, p95 and p99 over every request: Locust's own, computed over all of them (its
    aggregated row), not an average of per-route percentiles."""
    with stats.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
    if not rows or not int(rows[0]["Request Count"] or 0):
        return 0.0, 0.0, 0.0
    row = rows[0]
    return float(row["50%"] or 0), float(row["95%"] or 0), float(row["99%"] or 0)
