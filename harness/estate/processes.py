"""Start services as child processes, prefix their logs, wait for health, stop them all.

The harness never imports the services: it runs ``python -m <module>`` and talks HTTP, so the
same code serves ``harness up``, the demo, the tests and (later) the Locust runs.
Children die with the harness (Linux ``PR_SET_PDEATHSIG``) and are stopped with SIGTERM, then
SIGKILL, so no orphan process is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp

from core.topology import Topology
from harness.errors import StartupError
from harness.estate.hosts import NetworkHosts

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service of the estate as a process: ``python -m module args``."""

    id: str
    module: str
    args: tuple[str, ...]
    host: str
    port: int
    health_path: str = "/health"
    prefix: tuple[str, ...] = ()  # runs it elsewhere, e.g. ("ip", "netns", "exec", "ns")
    admin_url: str | None = None  # its control plane, when not on its own port (the balancer)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}{self.health_path}"


def services_of(
    topology: Topology,
    topology_path: Path,
    only: set[str] | None = None,
    *,
    lb_engine: str | None = None,
    hosts: NetworkHosts | None = None,
    log_level: str = "INFO",
) -> list[ServiceSpec]:
    """The services topology.yaml describes, in start order: upstream, publishers,
    dispatchers, load balancer (each waits on what it fronts being there), each given
    ``log_level``."""
    common = ("--topology", str(topology_path), "--log-level", log_level)
    sim = topology.simulation
    specs = [
        ServiceSpec("ims", "upstream.ims", common, sim.ims.host, sim.ims.port),
        ServiceSpec(
            "analytics", "upstream.analytics", common, sim.analytics.host, sim.analytics.port
        ),
    ]

    def on(host: str) -> tuple[str, ...]:
        return hosts.prefix(host) if hosts is not None else ()

    specs += [
        ServiceSpec(p.id, "node", (*common, "--id", p.id), p.host, p.port, prefix=on(p.id))
        for p in topology.publishers
    ]
    specs += [
        ServiceSpec(
            d.id, "lb.dispatcher", (*common, "--id", d.id), d.host, d.port, prefix=on(d.publisher)
        )
        for d in topology.dispatchers
    ]
    if topology.lb is not None:
        engine = ("--engine", lb_engine) if lb_engine else ()
        specs.append(
            ServiceSpec(
                "lb",
                "lb",
                (*common, *engine),
                topology.lb.host,
                topology.lb.port,
                "/lb/health",
                admin_url=topology.lb.admin.url,
            )
        )
    if only is not None:
        unknown = only - {s.id for s in specs}
        if unknown:
            known = ", ".join(s.id for s in specs)
            raise StartupError(f"--only: unknown service {sorted(unknown)[0]!r} (known: {known})")
        specs = [s for s in specs if s.id in only]
    return specs


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now, for an estate that must not clash with another."""
    sockets = []
    for _ in range(count):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        sockets.append(probe)
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def check_ports_free(specs: Sequence[ServiceSpec]) -> None:
    """Fail fast, naming the service, when a port is already taken."""
    for spec in specs:
        if spec.prefix:
            continue  # on a host (namespace) of its own, just made: nothing listens there
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((spec.host, spec.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"{spec.id}: port {spec.port} on {spec.host} is already in use"
                    ) from None
                raise


TIERS = ("upstream", "node", "lb.dispatcher", "lb")


def _tiers(specs: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    def rank(spec: ServiceSpec) -> int:
        return TIERS.index(
            spec.module.split(".")[0] if spec.module.startswith("upstream") else spec.module
        )

    ranks = sorted({rank(s) for s in specs})
    return [[s for s in specs if rank(s) == r] for r in ranks]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Owns the child processes of one run."""

    def __init__(
        self, env: Mapping[str, str], *, log: TextIO | None = sys.stderr, cwd: Path | None = None
    ) -> None:
        self._env = dict(env)
        self._log = log
        self._cwd = cwd
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self.specs: dict[str, ServiceSpec] = {}

    async def start(self, spec: ServiceSpec) -> None:
        proc = await asyncio.create_subprocess_exec(
            *spec.prefix,
            sys.executable,
            "-m",
            spec.module,
            *spec.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._procs[spec.id] = proc
        self.specs[spec.id] = spec
        assert proc.stdout is not None
        self._pumps.append(asyncio.create_task(self._pump(spec.id, proc.stdout)))

    async def _pump(self, service_id: str, stream: asyncio.StreamReader) -> None:
        width = max(len(s) for s in self.specs) if self.specs else 8
        while line := await stream.readline():
            if self._log is None:
                continue
            text = line.decode(errors="replace").rstrip()
            self._log.write(f"{service_id:>{width}} | {text}\n")
            self._log.flush()

    async def start_all(self, specs: Sequence[ServiceSpec], *, timeout: float = 15.0) -> None:
        """Start tier by tier (upstream, publishers, dispatchers, balancer), each healthy
        before the next starts, as a real estate comes up: a balancer whose first health
        checks ran before its publishers had a token would start with targets down."""
        check_ports_free(specs)
        for tier in _tiers(specs):
            for spec in tier:
                await self.start(spec)
            await self.wait_healthy([s.id for s in tier], timeout=timeout)

    async def wait_healthy(self, ids: Sequence[str], *, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            for service_id in ids:
                await self._wait_one(session, service_id, deadline)

    async def _wait_one(
        self, session: aiohttp.ClientSession, service_id: str, deadline: float
    ) -> None:
        proc, spec = self._procs[service_id], self.specs[service_id]
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise StartupError(f"{service_id} exited with status {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(spec.health_url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise StartupError(f"{service_id} did not become healthy at {spec.health_url}")

    def returncode(self, service_id: str) -> int | None:
        return self._procs[service_id].returncode

    def running(self, service_id: str) -> bool:
        proc = self._procs.get(service_id)
        return proc is not None and proc.returncode is None

    async def stop(
        self, service_id: str, *, sig: int = signal.SIGTERM, timeout: float = 5.0
    ) -> int:
        """Stop one service (SIGTERM, or SIGKILL to simulate a crash); return its exit code."""
        proc = self._procs[service_id]
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        assert proc.returncode is not None
        return proc.returncode

    async def stop_all(self, *, timeout: float = 5.0) -> dict[str, int]:
        """Stop every service, last started first; return their exit codes."""
        codes = {}
        for service_id in reversed(list(self._procs)):
            codes[service_id] = await self.stop(service_id, timeout=timeout)
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(pump, 1.0)
        return codes

    @property
    def pids(self) -> dict[str, int]:
        return {sid: p.pid for sid, p in self._procs.items()}


def child_environment(
    topology: Topology, environ: Mapping[str, str]
) -> tuple[dict[str, str], bool]:
    """The environment for the children; generate a simulation client secret if none is set.

    Returns the environment and whether a secret was generated. A generated secret is shared
    by the simulated IMS and the nodes of this run only; a real deployment sets its own.
    """
    env = dict(environ)
    names = topology.ims.client_secret_env
    if any(env.get(name) for name in names):
        return env, False
    env[names[0]] = os.urandom(24).hex()
    return env, True
