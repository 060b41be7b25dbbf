"""Run Locust headless as separate processes and read what it measured.

Locust runs on gevent, so it is never imported here: ``python -m locust`` is a child process,
like every service, and its CSV files (requests, failures, percentiles) and the locustfile's
``--moves-file`` (session moves, a statistic of its own) are the interface.

One process by default; with :class:`Workers` Locust's own distributed mode, as its users run
it at scale: a master (``--master --expect-workers N``) that writes the reports and N worker
processes (``--worker --master-host``) that make the requests, each worker optionally started
through a command prefix (``ip netns exec <host>``: a worker on another host). Workers that
never reach the master fail the run with one line; workers that die during it are reported.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.estate.processes import free_ports

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"


class LoadGeneratorError(HarnessError):
    """Locust could not run the load: its workers never reached the master, or it failed."""


@dataclass(frozen=True, slots=True)
class Workers:
    """Locust's distributed mode: ``count`` worker processes and one master.

    ``bind`` is where the master listens for them (loopback, or the bridge's gateway when the
    workers run on other hosts), ``master_host`` what the workers connect to (the same, unless
    a test wants them not to find it), ``prefixes`` the command prefix of each worker in turn
    (round robin; none: on this host)."""

    count: int = 0
    bind: str = "127.0.0.1"
    master_host: str | None = None
    prefixes: tuple[tuple[str, ...], ...] = ()
    connect_wait: int = 15  # seconds the master waits for every worker

    def prefix(self, index: int) -> tuple[str, ...]:
        return self.prefixes[index % len(self.prefixes)] if self.prefixes else ()


@dataclass(frozen=True, slots=True)
class WorkerExit:
    """A worker that ended other than by the master's leave (a signal, a crash)."""

    worker: int
    returncode: int
    after_s: float  # seconds into the run

    def describe(self) -> str:
        how = (
            f"killed by signal {-self.returncode}"
            if self.returncode < 0
            else f"exit status {self.returncode}"
        )
        return f"locust worker {self.worker} exited ({how}) {self.after_s:.0f} s into the run"


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
    workers: int = 0
    worker_exits: list[WorkerExit] = field(default_factory=list)


async def run_locust(
    host: str,
    out: Path,
    *,
    users: int,
    seconds: float,
    shape: str = "constant",
    token_lifetime: float = 10.0,
    user_class: str = "Visitor",
    think_time: str = "0.2,1.0",
    workers: Workers = Workers(),
) -> LocustResult:
    """Run ``user_class`` against ``host`` for ``seconds`` with ``users`` users; the reports go
    to ``out``. With ``workers.count`` above 0, as a master and that many workers."""
    ours = [
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
        "--think-time",
        think_time,
        "--loglevel",
        "WARNING",
    ]
    command = [
        *ours,
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
    ]
    if workers.count == 0:
        return await _single(command, out)
    return await _distributed(command, ours, out, workers)


async def _single(command: Sequence[str], out: Path) -> LocustResult:
    proc = await _start(command, out / "locust.log")
    await proc.wait()
    _check_ran(proc, out)
    result = read_results(out)
    result.exit_code = proc.returncode or 0
    return result


async def _distributed(
    command: Sequence[str], ours: Sequence[str], out: Path, workers: Workers
) -> LocustResult:
    (port,) = free_ports(1)
    master_command = [
        *command,
        "--master",
        "--master-bind-host",
        workers.bind,
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(workers.count),
        "--expect-workers-max-wait",
        str(workers.connect_wait),
    ]
    master = await _start(master_command, out / "locust.log")
    started = time.monotonic()
    reach = workers.master_host or workers.bind
    procs = [
        await _start(
            [
                *workers.prefix(i),
                *ours,
                "--worker",
                "--master-host",
                reach,
                "--master-port",
                str(port),
            ],
            out / f"locust-worker-{i + 1}.log",
        )
        for i in range(workers.count)
    ]
    watching = [asyncio.create_task(_watch(i + 1, p, started)) for i, p in enumerate(procs)]
    try:
        await master.wait()
    finally:
        killed = await _stop(procs)
    exits = [e for e in await asyncio.gather(*watching) if e.worker not in killed]
    log = (out / "locust.log").read_text(errors="replace")
    if "Gave up waiting for workers to connect" in log:
        raise LoadGeneratorError(
            f"locust: {workers.count} worker(s) did not reach the master at {reach}:{port} "
            f"within {workers.connect_wait} s (see {out / 'locust-worker-1.log'})"
        )
    _check_ran(master, out)
    result = read_results(out)
    result.exit_code = master.returncode or 0
    result.workers = workers.count
    # Workers leave with status 0 when the master tells them to; any other exit (a signal,
    # a crash) is a worker lost during the run.
    result.worker_exits = [e for e in exits if e.returncode != 0]
    return result


async def _start(command: Sequence[str], log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as output:  # the child has its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )


def _check_ran(proc: asyncio.subprocess.Process, out: Path) -> None:
    """Locust that failed before it measured anything (bad options, a broken locustfile)
    fails the run with its last line, rather than a verdict over no requests."""
    if proc.returncode and not (out / "locust_stats.csv").exists():
        lines = (out / "locust.log").read_text(errors="replace").strip().splitlines()
        last = lines[-1] if lines else "no output"
        raise LoadGeneratorError(f"locust exited with {proc.returncode}: {last}")


async def _watch(worker: int, proc: asyncio.subprocess.Process, started: float) -> WorkerExit:
    returncode = await proc.wait()
    return WorkerExit(worker, returncode, time.monotonic() - started)


async def _stop(procs: Sequence[asyncio.subprocess.Process], grace: float = 10.0) -> set[int]:
    """Give workers ``grace`` seconds to leave as the master told them, then kill them;
    return the (1-based) numbers of those killed here."""
    killed: set[int] = set()
    waiting = [p.wait() for p in procs if p.returncode is None]
    if not waiting:
        return killed
    try:
        await asyncio.wait_for(asyncio.gather(*waiting), timeout=grace)
    except TimeoutError:
        for number, proc in enumerate(procs, start=1):
            if proc.returncode is None:
                proc.kill()
                killed.add(number)
        await asyncio.gather(*(p.wait() for p in procs))
    return killed


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
