"""End to end with real processes: ``python -m upstream.ims``, ``upstream.analytics``, ``node``."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from core.topology import load_topology
from harness.errors import StartupError
from harness.estate.processes import check_ports_free, services_of
from harness.estate.supervisor import Supervisor
from tests.support.processes import ROOT, SECRET_ENV, harness_until_healthy, write_topology
from tests.support.world import get_json


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[tuple[Supervisor, Path]]:
    path = write_topology(tmp_path)
    topology = load_topology(path)
    supervisor = Supervisor({**os.environ, **SECRET_ENV}, log=None)
    await supervisor.start_all(services_of(topology, path, {"ims", "analytics", "p1"}))
    try:
        yield supervisor, path
    finally:
        await supervisor.stop_all()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_node_process_serves_reuses_its_sealed_token_and_stops_cleanly(
    estate: tuple[Supervisor, Path], tmp_path: Path
) -> None:
    supervisor, _ = estate
    p1, ims = supervisor.specs["p1"].url, supervisor.specs["ims"].url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{p1}/api/top-pages") as r:
            assert r.status == 200
            assert r.headers["X-Publisher"] == "p1"
            body = await r.json()
        visits = [p["visits"] for p in body["pages"]]
        assert visits == sorted(visits, reverse=True)
        assert len(visits) == 10
        _, before = await get_json(http, f"{p1}/status")

        token_file = tmp_path / "state" / "nodes" / "p1.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # No JWT (header.claims) in the file: base64 ciphertext has no '.', so this cannot
        # match by chance, as a bare b"eyJ" does once in ~370 seals.
        assert not re.search(rb"eyJ[A-Za-z0-9_-]+\.eyJ", token_file.read_bytes())
        assert stat.S_IMODE((tmp_path / "state" / "keyring.json").stat().st_mode) == 0o600

        for sig in (signal.SIGTERM, signal.SIGKILL):  # a clean stop, then a crash
            code = await supervisor.stop("p1", sig=sig)
            assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
            await supervisor.start(supervisor.specs["p1"])
            await supervisor.wait_healthy(["p1"])
            _, after = await get_json(http, f"{p1}/status")
            assert after["token"]["fingerprint"] == before["token"]["fingerprint"]
            assert after["token"]["restored_from_disk"] is True
            assert after["token"]["token_calls"] == 0
        _, stats = await get_json(http, f"{ims}/admin/stats")
        assert stats["issued_by_caller"] == {"p1": 1}

    pids = supervisor.pids
    codes = await supervisor.stop_all()
    assert set(codes.values()) == {0}
    assert not any(alive(pid) for pid in pids.values())


async def test_busy_ports_fail_fast_with_the_service_named(tmp_path: Path) -> None:
    path = write_topology(tmp_path)
    topology = load_topology(path)
    specs = services_of(topology, path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", topology.publishers[0].port))
        squatter.listen()
        with pytest.raises(StartupError, match=r"p1: port \d+ on 127.0.0.1 is already in use"):
            check_ports_free(specs)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "node",
            "--topology",
            str(path),
            "--id",
            "p1",
            env={**os.environ, **SECRET_ENV},
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "is already in use by another process" in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_harness_up_starts_a_subset_and_leaves_no_orphans_on_sigterm(
    tmp_path: Path,
) -> None:
    path = write_topology(tmp_path)
    proc, output = await harness_until_healthy(
        "--topology", str(path), "up", "--only", "ims,analytics,p1"
    )
    assert "p1  http://127.0.0.1:" in output
    assert "p2  " not in output
    children = _children_of(proc.pid)
    assert len(children) == 3
    proc.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert "p1 | " in output + rest.decode()  # logs are prefixed with the service id
    assert not any(alive(pid) for pid in children)


def _children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in children.read_text().split()] if children.exists() else []


async def _up(path: Path, *extra: str) -> tuple[asyncio.subprocess.Process, dict[str, int]]:
    """``harness up`` of IMS, Analytics and p1, healthy; the pid of each service."""
    proc, output = await harness_until_healthy(
        "up", "--topology", str(path), "--only", "ims,analytics,p1", *extra
    )
    pids = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\s*(\S+)  http://\S+  pid (\d+)$", output, re.MULTILINE)
    }
    return proc, pids


async def _line_with(proc: asyncio.subprocess.Process, text: str, seconds: float = 15) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(seconds):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, f"harness up ended before saying {text!r}"
            if text in line:
                return line


async def test_harness_up_reports_a_dead_child_at_once_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write_topology(tmp_path)
    proc, pids = await _up(path)
    try:
        os.kill(pids["p1"], signal.SIGKILL)
        line = await _line_with(proc, "p1 exited")
        assert "harness: p1 exited (killed by SIGKILL); its last line: " in line
        assert " INFO    p1 " in line  # what p1 logged last
        topology = load_topology(path)
        async with aiohttp.ClientSession() as http:
            status, _ = await get_json(
                http, f"http://127.0.0.1:{topology.simulation.ims.port}/health"
            )
        assert status == 200  # the rest keep running
        assert alive(pids["analytics"])
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0


async def test_harness_up_restarts_a_dead_child_when_asked(tmp_path: Path) -> None:
    path = write_topology(tmp_path)
    proc, pids = await _up(path, "--restart")
    topology = load_topology(path)
    try:
        os.kill(pids["p1"], signal.SIGKILL)
        await _line_with(proc, "p1 exited (killed by SIGKILL)")
        assert "restarting p1 in 1s (restart 1)" in await _line_with(proc, "restarting p1")
        back = await _line_with(proc, "p1 is back")
        new_pid = int(re.search(r"pid (\d+)", back).group(1))  # type: ignore[union-attr]
        assert new_pid != pids["p1"]
        async with aiohttp.ClientSession() as http:
            status, _ = await get_json(
                http, f"http://127.0.0.1:{topology.publishers[0].port}/health"
            )
        assert status == 200
        # Dying again soon after: the next wait is longer (doubling, capped).
        os.kill(new_pid, signal.SIGKILL)
        assert "restarting p1 in 2s (restart 2)" in await _line_with(proc, "restarting p1")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)


async def test_an_exit_asked_for_is_no_news_and_one_not_asked_for_is_recorded(
    estate: tuple[Supervisor, Path],
) -> None:
    supervisor, _ = estate
    await supervisor.stop("p1", sig=signal.SIGKILL)  # a scenario's crash: asked for
    assert supervisor.exits == []
    os.kill(supervisor.pids["analytics"], signal.SIGKILL)  # not asked for
    async with asyncio.timeout(10):
        while not supervisor.exits:  # noqa: ASYNC110 (the supervisor's list, not an event)
            await asyncio.sleep(0.05)
    (exit_,) = supervisor.exits
    assert (exit_.service, exit_.returncode) == ("analytics", -signal.SIGKILL)
    assert exit_.describe().startswith("analytics exited (killed by SIGKILL); its last line:")
