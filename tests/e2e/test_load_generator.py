"""Load beyond one process: Locust's distributed mode (a master and workers), bad --workers
values, workers that never reach the master or die during a run; Redis as the shared store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from harness.load.locust_run import LoadGeneratorError, Workers, run_locust
from harness.load.run import run_scenario
from harness.load.scenarios import SCENARIOS
from tests.support.topologies import load_options, shipped
from tests.support.world import serve

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
@pytest.mark.parametrize("command", ["load --scenario steady", "compare"])
def test_a_bad_workers_count_exits_2_naming_the_option(command: str, value: str) -> None:
    done = harness(*command.split(), "--workers", value)
    assert done.returncode == 2
    assert "--workers" in done.stderr
    assert value in done.stderr
    assert "Traceback" not in done.stderr


async def any_site(stack: contextlib.AsyncExitStack) -> str:
    """A real HTTP server that answers every GET: something for Locust to load."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return await serve(stack, app)


def _children_with(marker: str) -> list[int]:
    """This process's children whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and marker in command:
            found.append(int(entry.name))
    return found


@pytest.mark.timeout(120)
async def test_a_steady_run_with_two_workers_is_judged_from_the_master(tmp_path: Path) -> None:
    options = load_options(users=10, lifetime=4, out=tmp_path, free_ports=True, workers=2)
    verdict = await run_scenario(shipped(), SCENARIOS["steady"], options)
    assert verdict.all_held, verdict.text()
    data = verdict.data
    assert data.locust.workers == 2
    assert data.locust.requests > 20
    assert data.locust.worker_exits == []
    # Both workers made requests (each logs nothing at WARNING unless wrong; the master's
    # stats hold every worker's requests, and the session moves it summed are written).
    for i in (1, 2):
        assert (verdict.folder / f"locust-worker-{i}.log").exists()
    assert (verdict.folder / "session-moves.json").exists()
    summary = json.loads((verdict.folder / "results.json").read_text())
    assert summary["locust"]["workers"] == 2
    assert _children_with("--worker") == []


@pytest.mark.timeout(60)
async def test_workers_that_cannot_reach_the_master_fail_the_run_in_one_line(
    tmp_path: Path, stack: contextlib.AsyncExitStack
) -> None:
    site = await any_site(stack)
    # The master listens on 127.0.0.1; the workers are told 127.0.0.2, where it is not.
    workers = Workers(count=2, master_host="127.0.0.2", connect_wait=3)
    started = time.monotonic()
    with pytest.raises(LoadGeneratorError) as raised:
        await run_locust(site, tmp_path, users=2, seconds=5, workers=workers)
    message = str(raised.value)
    assert "\n" not in message
    assert "2 worker(s) did not reach the master at 127.0.0.2:" in message
    assert time.monotonic() - started < 30
    assert _children_with("locust") == []  # nothing left running


@pytest.mark.timeout(60)
async def test_a_worker_that_dies_during_the_run_is_reported(
    tmp_path: Path, stack: contextlib.AsyncExitStack
) -> None:
    site = await any_site(stack)

    async def kill_one_worker() -> None:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if len(found := _children_with("--worker")) == 2:
                await asyncio.sleep(3)  # connected and spawning by now
                os.kill(found[0], signal.SIGKILL)
                return

    killing = asyncio.create_task(kill_one_worker())
    result = await run_locust(site, tmp_path, users=4, seconds=8, workers=Workers(count=2))
    await killing
    assert len(result.worker_exits) == 1
    (lost,) = result.worker_exits
    assert lost.returncode == -signal.SIGKILL
    assert "killed by signal 9" in lost.describe()
    assert result.requests > 0  # the other worker carried on
    assert _children_with("--worker") == []


@pytest.mark.timeout(120)
async def test_shared_through_a_redis_server_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.environ.get("TOKENSIM_REQUIRE_REDIS") and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    monkeypatch.setenv("TOKENSIM_REDIS_PASSWORD", "correct-horse-battery-staple")
    options = load_options(
        users=10, lifetime=4, out=tmp_path, free_ports=True, design="shared", store="redis"
    )
    others = set(_children_with("redis-server"))  # the test session's own server, if started
    verdict = await run_scenario(shipped(), SCENARIOS["steady"], options)
    assert verdict.all_held, verdict.text()
    topology = (verdict.folder / "topology.yaml").read_text()
    assert "kind: redis" in topology
    assert "TOKENSIM_REDIS_PASSWORD" in topology
    # The password is never in the report folder (people share it); redis logged its start.
    for path in verdict.folder.rglob("*"):
        if path.is_file():
            assert b"correct-horse-battery-staple" not in path.read_bytes(), path
    assert "Ready to accept connections" in (verdict.folder / "redis.log").read_text()
    # One token for the cluster: the nodes read it from Redis (one IMS call for 3 nodes per
    # lifetime, not three).
    # The ceiling is one call at start and one per half-life over the time IMS was issuing
    # (the estate's start included: on a slow machine it takes a few seconds before the load).
    calls = len(verdict.data.ims.get("issued_log", []))
    assert 1 <= calls <= verdict.data.max_calls_per_node()
    assert set(_children_with("redis-server")) == others  # the run's own server is gone
