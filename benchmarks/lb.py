"""Built-in load balancer vs HAProxy with the equivalent configuration, same backends, one run.

Layout on 2 cores: the balancer under test alone on core 0 (HAProxy with one thread, the
built-in balancer is one process); wrk and the static backends on core 1. Throughput at 64
connections; latency at 8 connections ("moderate load"), where "added p99" is the balancer's
p99 minus the p99 of going to a backend directly. HAProxy and the built-in balancer are run
in turn ``REPEATS`` times and the medians compared, as this machine's speed drifts over a run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.figures import Figure
from benchmarks.processes import LOAD_CPU, MEASURED_CPU, PIN, pinned, process
from benchmarks.static_backends import backend_config
from benchmarks.wrk import WrkResult, run_wrk
from core.topology import Topology
from harness.estate.processes import free_ports
from lb.haproxy_config import render
from lb.targets import Backend

THROUGHPUT_CONNECTIONS, LATENCY_CONNECTIONS = 64, 8
REPEATS = 3


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    throughput: WrkResult
    latency: WrkResult


def measure(name: str, url: str, seconds: float) -> Run:
    cpu = LOAD_CPU if PIN else None
    throughput = run_wrk(url, connections=THROUGHPUT_CONNECTIONS, seconds=seconds, cpu=cpu)
    latency = run_wrk(url, connections=LATENCY_CONNECTIONS, seconds=seconds, cpu=cpu)
    return Run(name, throughput, latency)


def topology_for(backends: list[int], lb_port: int, admin_port: int, state: Path) -> Topology:
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
            "admin": {"port": admin_port},
            "health_check": {"interval": "1s", "timeout": "500ms", "healthy_threshold": 2},
        },
        "simulation": {"ims": {"port": 30011}, "analytics": {"port": 30012}},
    }
    return Topology.from_dict(data)


def run(haproxy: str, seconds: float) -> tuple[list[Figure], list[Run]]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        *backends, lb_port, admin_port, hp_port, hp_admin_port, naive_port = free_ports(8)
        (work / "backends.cfg").write_text(backend_config(backends))
        topology = topology_for(backends, lb_port, admin_port, work / "state")
        assert topology.lb is not None
        topology_file = work / "topology.yaml"
        topology_file.write_text(yaml.safe_dump(topology.model_dump(mode="json")))
        servers = [
            Backend(f"d{i}", "127.0.0.1", p, f"p{i}") for i, p in enumerate(backends, start=1)
        ]
        (work / "haproxy.cfg").write_text(
            render(
                topology.lb,
                servers,
                bind=f"127.0.0.1:{hp_port}",
                admin_bind=f"127.0.0.1:{hp_admin_port}",
                threads=1 if PIN else None,
            )
        )
        haproxy_lb = pinned(MEASURED_CPU, [haproxy, "-f", str(work / "haproxy.cfg")])
        built_in = pinned(
            MEASURED_CPU,
            [sys.executable, "-m", "lb", "--topology", str(topology_file), "--log-level", "ERROR"],
        )
        naive = pinned(
            MEASURED_CPU,
            [
                sys.executable,
                "-m",
                "benchmarks.naive_proxy",
                "--port",
                str(naive_port),
                "--targets",
                ",".join(f"http://127.0.0.1:{p}" for p in backends),
            ],
        )
        direct = f"http://127.0.0.1:{backends[0]}/"
        with process(pinned(LOAD_CPU, [haproxy, "-f", str(work / "backends.cfg")]), direct):
            runs.append(measure("direct to one backend", direct, seconds))
            for _ in range(REPEATS):
                url = f"http://127.0.0.1:{hp_port}/"
                with process(haproxy_lb, url):
                    runs.append(measure("HAProxy (1 thread)", url, seconds))
                url = f"http://127.0.0.1:{lb_port}/"
                with process(built_in, f"{url}lb/health"):
                    runs.append(measure("built-in LB (1 process)", url, seconds))
            url = f"http://127.0.0.1:{naive_port}/"
            with process(naive, url):
                runs.append(measure("naive aiohttp proxy", url, seconds))
    return figures(runs), runs


def figures(runs: list[Run]) -> list[Figure]:
    def median(name: str, figure: str) -> float:
        values = [_figure(r, figure) for r in runs if r.name == name]
        return statistics.median(values)

    direct_p99 = median("direct to one backend", "p99")
    hp_rps, lb_rps = median("HAProxy (1 thread)", "rps"), median("built-in LB (1 process)", "rps")
    hp_added = median("HAProxy (1 thread)", "p99") - direct_p99
    lb_added = median("built-in LB (1 process)", "p99") - direct_p99
    errors = sum(r.throughput.errors + r.latency.errors for r in runs)
    ratios = [
        _figure(b, "rps") / _figure(h, "rps")
        for h, b in zip(
            [r for r in runs if r.name == "HAProxy (1 thread)"],
            [r for r in runs if r.name == "built-in LB (1 process)"],
            strict=True,
        )
    ]
    spread = f"ratio per pair {min(ratios):.2f}..{max(ratios):.2f}, median of {len(ratios)}"
    return [
        Figure(
            "LB",
            f"built-in LB, req/s at {THROUGHPUT_CONNECTIONS} conns",
            lb_rps,
            "req/s",
            "HAProxy (1 thread)",
            hp_rps,
            ">= 0.6x",
            lb_rps / hp_rps >= 0.6,
            spread,
        ),
        Figure(
            "LB",
            f"built-in LB, added p99 at {LATENCY_CONNECTIONS} conns",
            lb_added,
            "ms",
            "HAProxy's added p99",
            hp_added,
            "< 2 ms",
            lb_added < 2.0,
            f"direct p99 {direct_p99:.2f} ms",
        ),
        Figure(
            "LB",
            f"naive aiohttp proxy, req/s at {THROUGHPUT_CONNECTIONS} conns",
            median("naive aiohttp proxy", "rps"),
            "req/s",
            "HAProxy (1 thread)",
            hp_rps,
            note=f"the yardstick; {errors} errors in all LB runs",
        ),
    ]


def _figure(run: Run, figure: str) -> float:
    return run.throughput.requests_per_second if figure == "rps" else run.latency.p99_ms
