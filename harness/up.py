"""``python -m harness up``: run the estate until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from core.topology import Topology
from harness.processes import Supervisor, child_environment, services_of


async def up(
    topology: Topology, topology_path: Path, only: set[str] | None, lb_engine: str | None = None
) -> int:
    specs = services_of(topology, topology_path, only, lb_engine=lb_engine)
    env, generated = child_environment(topology, os.environ)
    supervisor = Supervisor(env)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await supervisor.start_all(specs)
        if generated:
            print("harness: generated a client secret for this simulation run", flush=True)
        pids = supervisor.pids
        for spec in specs:
            print(f"{spec.id:>10}  {spec.url}  pid {pids[spec.id]}", flush=True)
        print("harness: all services healthy; Ctrl-C stops them", flush=True)
        await stop.wait()
    finally:
        await supervisor.stop_all()
    return 0
