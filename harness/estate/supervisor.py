"""Run the estate's services as child processes: start them tier by tier, prefix their logs,
wait for health, watch them, stop them all.

A child that exits without being asked to is reported at once, in one line (its id, its exit
status or the signal that killed it, its last log line), and the rest keep running, as a real
estate would; with a :class:`RestartPolicy` it is started again after a capped, doubling
delay. Children die with the harness (Linux ``PR_SET_PDEATHSIG``) and are stopped with SIGTERM,
then SIGKILL, so no orphan process is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from harness.errors import StartupError
from harness.estate.processes import ServiceSpec, check_ports_free, tiers

PR_SET_PDEATHSIG = 1
HEALTHY_RUN = 60.0  # seconds up after which a restarted service's back-off starts again


@dataclass(frozen=True, slots=True)
class Exit:
    """A child that exited without being asked to."""

    service: str
    returncode: int
    last_line: str
    at: float  # wall clock

    def describe(self) -> str:
        code = self.returncode
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        last = self.last_line or "(it logged nothing)"
        return f"{self.service} exited ({how}); its last line: {last}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Start an exited service again after ``base`` seconds, doubling each time it exits again
    soon after, up to ``cap``."""

    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, attempt - 1)))


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Owns the child processes of one run.

    ``log``: where the children's output goes, each line prefixed with its id (None: nowhere).
    ``report``: where the supervisor's own lines go (an exit, a restart); default stderr.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        log: TextIO | None = sys.stderr,
        cwd: Path | None = None,
        report: Callable[[str], None] | None = None,
        restart: RestartPolicy | None = None,
    ) -> None:
        self._env = dict(env)
        self._log = log
        self._cwd = cwd
        self._report = report or _to_stderr
        self._restart = restart
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._last_line: dict[str, str] = {}
        self._stopping: set[str] = set()  # asked to stop: their exit is no news
        self._closing = False
        self._attempts: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self.specs: dict[str, ServiceSpec] = {}
        self.exits: list[Exit] = []

    async def start(self, spec: ServiceSpec) -> None:
        proc = await asyncio.create_subprocess_exec(
            *spec.prefix,
            sys.executable,
            "-m",
            spec.module,
            *spec.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={k: v for k, v in self._env.items() if k not in spec.without_env},
            cwd=self._cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._stopping.discard(spec.id)
        self._procs[spec.id] = proc
        self.specs[spec.id] = spec
        self._started_at[spec.id] = time.monotonic()
        assert proc.stdout is not None
        pump = self._spawn(self._pump(spec.id, proc.stdout))
        self._pumps[spec.id] = pump
        self._spawn(self._watch(spec.id, proc, pump))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _pump(self, service_id: str, stream: asyncio.StreamReader) -> None:
        width = max(len(s) for s in self.specs) if self.specs else 8
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self._last_line[service_id] = text
            if self._log is not None:
                self._log.write(f"{service_id:>{width}} | {text}\n")
                self._log.flush()

    async def _watch(
        self, service_id: str, proc: asyncio.subprocess.Process, pump: asyncio.Task[None]
    ) -> None:
        code = await proc.wait()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(pump), 1.0)  # its last words first
        if service_id in self._stopping or self._closing or self._procs.get(service_id) is not proc:
            return
        exit_ = Exit(service_id, code, self._last_line.get(service_id, ""), time.time())
        self.exits.append(exit_)
        self._report(f"harness: {exit_.describe()}")
        if self._restart is not None:
            await self._start_again(service_id)

    async def _start_again(self, service_id: str) -> None:
        assert self._restart is not None
        up_for = time.monotonic() - self._started_at.get(service_id, 0.0)
        attempt = 1 if up_for >= HEALTHY_RUN else self._attempts.get(service_id, 0) + 1
        self._attempts[service_id] = attempt
        delay = self._restart.delay(attempt)
        self._report(f"harness: restarting {service_id} in {delay:g}s (restart {attempt})")
        await asyncio.sleep(delay)
        if self._closing or service_id in self._stopping:
            return
        spec = self.specs[service_id]
        try:
            await self.start(spec)
            await self.wait_healthy([service_id], timeout=30)
        except (StartupError, OSError) as exc:
            self._report(f"harness: {service_id} did not come back: {exc}")
            return  # its watcher reports the exit and tries again, later
        self._report(f"harness: {service_id} is back (pid {self._procs[service_id].pid})")

    async def start_all(self, specs: Sequence[ServiceSpec], *, timeout: float = 15.0) -> None:
        """Start tier by tier (upstream, publishers, dispatchers, balancer), each healthy
        before the next starts, as a real estate comes up: a balancer whose first health
        checks ran before its publishers had a token would start with targets down."""
        check_ports_free(specs)
        for tier in tiers(specs):
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
            await asyncio.sleep(0.01)  # as often as the bench polls its baseline
        raise StartupError(f"{service_id} did not become healthy at {spec.health_url}")

    def returncode(self, service_id: str) -> int | None:
        return self._procs[service_id].returncode

    def running(self, service_id: str) -> bool:
        proc = self._procs.get(service_id)
        return proc is not None and proc.returncode is None

    async def stop(
        self, service_id: str, *, sig: int = signal.SIGTERM, timeout: float = 5.0
    ) -> int:
        """Stop one service (SIGTERM, or SIGKILL to simulate a crash); return its exit code.
        An exit asked for is not reported, nor restarted."""
        self._stopping.add(service_id)
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
        self._closing = True
        codes = {}
        for service_id in reversed(list(self._procs)):
            codes[service_id] = await self.stop(service_id, timeout=timeout)
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            if task not in self._pumps.values():
                task.cancel()  # a restart waiting out its delay
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 2.0)
        return codes

    @property
    def pids(self) -> dict[str, int]:
        return {sid: p.pid for sid, p in self._procs.items()}


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
