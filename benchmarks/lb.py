"""Built-in load balancer vs HAProxy with the equivalent configuration, same backends, one run.

Layout on 2 cores: the balancer under test alone on core 0 (HAProxy with one thread, the
built-in balancer is one process); wrk and the static backends on core 1. Throughput at 64
connections; latency at 8 connections ("moderate load"), where "added p99" is the balancer's
p99 minus the p99 of going to a backend directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.static_backends import backend_config
from benchmarks.wrk import WrkResult, run_wrk
from core.topology import Topology
from lb.haproxy_config import render
from lb.targets import Backend

ROOT = Path(__file__).resolve().parent.parent
LB_CPU, LOAD_CPU = 0, 1
THROUGHPUT_CONNECTIONS, LATENCY_CONNECTIONS = 64, 8


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    throughput: WrkResult
    latency: WrkResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PIN = os.environ.get("BENCH_PIN", "1") == "1"


def pinned(cpu: int, command: list[str]) -> list[str]:
    if not PIN:
        return command
    return ["taskset", "-c", str(cpu), *command] if shutil.which("taskset") else command


@contextlib.contextmanager
def process(
    command: list[str], ready_url: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(ready_url, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 (loopback only)
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


def measure(name: str, url: str, seconds: float) -> Row:
    cpu = LOAD_CPU if PIN else None
    throughput = run_wrk(url, connections=THROUGHPUT_CONNECTIONS, seconds=seconds, cpu=cpu)
    latency = run_wrk(url, connections=LATENCY_CONNECTIONS, seconds=seconds, cpu=cpu)
    return Row(name, throughput, latency)


def topology_for(backends: list[int], lb_port: int, state: Path) -> Topology:
    data: dict[str, Any] = {
        "ims": {
            "token_url": "http://127.0.0.1:1/t",
            "client_id": "b",
            "client_secret_env": "X",
            "scope": "s",
        },
        "analytics": {"base_url": "http://127.0.0.1:2", "company_id": "b", "rsid": "b"},
        "token": {"state_dir": str(state)},
        "publishers": [{"id": f"p{i}", "port": 30000 + i} for i in (1, 2, 3)],
        "dispatchers": [
            {"id": f"d{i}", "port": port, "publisher": f"p{i}"}
            for i, port in enumerate(backends, start=1)
        ],
        "lb": {
            "port": lb_port,
            "health_check": {"interval": "1s", "timeout": "500ms", "healthy_threshold": 2},
        },
        "simulation": {"ims": {"port": 30011}, "analytics": {"port": 30012}},
    }
    return Topology.from_dict(data)


def run(seconds: float = 8.0) -> list[Row]:
    haproxy = shutil.which("haproxy")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        backends = [free_port() for _ in range(3)]
        (work / "backends.cfg").write_text(backend_config(backends))
        lb_port = free_port()
        topology = topology_for(backends, lb_port, work / "state")
        topology_file = work / "topology.yaml"
        topology_file.write_text(yaml.safe_dump(topology.model_dump(mode="json")))
        if haproxy is None:
            raise RuntimeError("the static backends need haproxy (Debian package haproxy)")
        with process(
            pinned(LOAD_CPU, [haproxy, "-f", str(work / "backends.cfg")]),
            f"http://127.0.0.1:{backends[0]}/",
        ):
            rows.append(
                measure("direct to one backend", f"http://127.0.0.1:{backends[0]}/", seconds)
            )
            hp_port = free_port()
            servers = [
                Backend(f"d{i}", "127.0.0.1", p, f"p{i}") for i, p in enumerate(backends, start=1)
            ]
            assert topology.lb is not None
            (work / "haproxy.cfg").write_text(
                render(
                    topology.lb, servers, bind=f"127.0.0.1:{hp_port}", threads=1 if PIN else None
                )
            )
            with process(
                pinned(LB_CPU, [haproxy, "-f", str(work / "haproxy.cfg")]),
                f"http://127.0.0.1:{hp_port}/",
            ):
                rows.append(measure("HAProxy (1 thread)", f"http://127.0.0.1:{hp_port}/", seconds))
            env = {**os.environ}
            with process(
                pinned(
                    LB_CPU,
                    [
                        sys.executable,
                        "-m",
                        "lb",
                        "--topology",
                        str(topology_file),
                        "--log-level",
                        "WARNING",
                    ],
                ),
                f"http://127.0.0.1:{lb_port}/lb/health",
                env,
            ):
                rows.append(
                    measure("built-in LB (1 process)", f"http://127.0.0.1:{lb_port}/", seconds)
                )
            naive_port = free_port()
            targets = ",".join(f"http://127.0.0.1:{p}" for p in backends)
            with process(
                pinned(
                    LB_CPU,
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.naive_proxy",
                        "--port",
                        str(naive_port),
                        "--targets",
                        targets,
                    ],
                ),
                f"http://127.0.0.1:{naive_port}/",
            ):
                rows.append(
                    measure("naive aiohttp proxy", f"http://127.0.0.1:{naive_port}/", seconds)
                )
    return rows
