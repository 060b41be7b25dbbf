"""Processes for the benchmarks: start one and wait until it answers, pin it, read its memory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# On 2 cores: the thing measured alone on core 0, the load generator and the rest on core 1.
PIN = os.environ.get("BENCH_PIN", "1") == "1" and (os.cpu_count() or 1) >= 2
MEASURED_CPU, LOAD_CPU = 0, 1


def pinned(cpu: int, command: list[str]) -> list[str]:
    if not PIN or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


def pin(pid: int, cpu: int) -> None:
    """Every thread of ``pid`` on ``cpu`` (as ``taskset`` at launch would: a thread started
    earlier keeps its own affinity when only the process's main thread is moved)."""
    if PIN:
        for thread in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(thread), {cpu})


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) that ``pid`` has used so far: /proc/PID/stat sums every
    thread of the process, those that have ended included (proc(5), fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def process(
    command: list[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(ready_url, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> float:
    """Seconds until ``url`` answered 200 (polled every 10 ms); fails early if ``proc``, the
    process that serves it when it is ours, exits first."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 (loopback only)
        ):
            if response.status == 200:
                return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def json_at(url: str) -> Any:
    """The JSON that ``url`` (a loopback control plane: status, admin) answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback only)
        return json.load(response)


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and its peak so far (VmRSS, VmHWM), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]
