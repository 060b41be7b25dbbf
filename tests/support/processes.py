"""Real processes for tests: a small topology on free ports, and ``python -m harness`` run
as a child until it says every service is healthy."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.estate.processes import free_ports

ROOT = Path(__file__).resolve().parents[2]
SECRET_ENV = {"TOKENSIM_TEST_SECRET": "process-test-secret"}


def write_topology(tmp_path: Path) -> Path:
    ims, analytics, p1, p2 = free_ports(4)
    data: dict[str, Any] = {
        "ims": {
            "token_url": f"http://127.0.0.1:{ims}/ims/token/v3",
            "client_id": "proc-client",
            "client_secret_env": "TOKENSIM_TEST_SECRET",
            "scope": "openid,AdobeID",
        },
        "analytics": {
            "base_url": f"http://127.0.0.1:{analytics}",
            "company_id": "procco",
            "rsid": "proc.rsid",
            "report_refresh": "1s",
        },
        "token": {"state_dir": "state"},
        "publishers": [{"id": "p1", "port": p1}, {"id": "p2", "port": p2}],
        "simulation": {
            "state_dir": "state/sim",
            "ims": {"port": ims, "expires_in": 3600},
            "analytics": {"port": analytics},
        },
    }
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def harness_until_healthy(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m harness ARGV`` as a child, once it says every service is healthy (30 s at
    most; stopped if it is not), and what it printed until then."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harness",
        *argv,
        env={**os.environ, **SECRET_ENV},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):
            while "all services healthy" not in "".join(seen):
                seen.append((await proc.stdout.readline()).decode())
                assert seen[-1], "the estate exited before it was healthy:\n" + "".join(seen)
    except BaseException:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
        raise
    return proc, "".join(seen)
