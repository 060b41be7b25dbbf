"""``python -m harness up``: run the estate until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from core.topology import Topology, write_topology
from harness.estate.hosts import HostPlan, NetworkHosts
from harness.estate.processes import child_environment, services_of
from harness.estate.supervisor import RestartPolicy, Supervisor


async def up(
    topology: Topology,
    topology_path: Path,
    only: set[str] | None,
    lb_engine: str | None = None,
    *,
    on_hosts: bool = False,
    log_level: str = "INFO",
    restart: bool = False,
) -> int:
    """Until Ctrl-C or SIGTERM. A service that exits is reported at once, in one line, and the
    rest keep running; with ``restart`` it is started again (1 s, doubling up to 30 s)."""
    with _hosts(topology, topology_path, on_hosts) as (topology, topology_path, hosts):
        specs = services_of(
            topology, topology_path, only, lb_engine=lb_engine, hosts=hosts, log_level=log_level
        )
        env, generated = child_environment(topology, os.environ)
        supervisor = Supervisor(env, report=_say, restart=RestartPolicy() if restart else None)
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
            if hosts is not None:
                names = ", ".join(hosts.plan.namespace(h) for h in hosts.hosts)
                print(f"harness: publishers on hosts of their own (namespaces {names})", flush=True)
            print(
                "harness: all services healthy; Ctrl-C stops them"
                + ("; a service that exits is started again" if restart else ""),
                flush=True,
            )
            await stop.wait()
        finally:
            await supervisor.stop_all()
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


@contextlib.contextmanager
def _hosts(
    topology: Topology, topology_path: Path, on_hosts: bool
) -> Iterator[tuple[Topology, Path, NetworkHosts | None]]:
    """With ``--hosts``: the namespaces made, and topology.yaml rewritten for them (next to
    the state); removed again at the end. HostsUnavailable where they cannot be made."""
    if not on_hosts:
        yield topology, topology_path, None
        return
    plan = HostPlan.new()
    hosts = NetworkHosts(plan, [p.id for p in topology.publishers])
    try:
        hosts.create()
        placed = plan.place(topology)
        path = write_topology(placed, Path(topology.token.state_dir) / "topology-on-hosts.yaml")
        yield placed, path, hosts
    finally:
        hosts.remove()
