"""Running one design in virtual time: its estate derived from topology.yaml, its own event
loop whose clock is virtual, the nodes' log lines kept out of the caller's logs."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from core.topology import RetryConfig, StoreConfig, Topology
from harness.designs import Design
from harness.virtual.clock import run_in_virtual_time
from harness.virtual.outcome import VirtualResult, result_of
from harness.virtual.settings import VirtualSettings
from harness.virtual.simulation import Simulation
from harness.virtual.timeline import LIFETIME

# The loggers of the code under simulation: the token library and the node's designs.
SIMULATED = ("tokensim_token", "node")


def virtual_topology(
    base: Topology, design: Design, settings: VirtualSettings, state: Path
) -> Topology:
    """The estate of the simulation: topology.yaml's publishers (or p1..pN when the size asked
    for is another), its strategy settings and report cache, the week's periods, its state in
    ``state``."""
    if settings.publishers != len(base.publishers):
        template = base.publishers[0]
        publishers = tuple(
            template.evolve(id=f"p{i}", port=20_000 + i) for i in range(1, settings.publishers + 1)
        )
        base = base.evolve(
            publishers=publishers, dispatchers=(), lb=None, token=base.token.evolve(leader=None)
        )
    if settings.refresh is not None:
        base = base.evolve(analytics=base.analytics.evolve(report_refresh=settings.refresh))
    topology = base.with_token(
        state_dir=str(state),
        # A scheduled design's followers read the store on their own timer (every minute
        # here: a job, not a poll loop); everybody else looks again only after losing a lease.
        peer_poll=settings.peer_poll if design.strategy == "scheduled" else base.token.peer_poll,
        lease_ttl=30.0,
        wait_timeout=10.0,
        expiry_margin=300.0,
        retry=RetryConfig(base=1.0, cap=60.0, config_error_interval=300.0),
        store=StoreConfig(kind="file"),
        key_env=None,
        key_file=None,
    )
    return design.applied(topology, LIFETIME)


def memory_backed() -> str | None:
    """Where the simulated nodes keep their state: /dev/shm (a tmpfs) when there is one we may
    write, else the usual temporary folder. The nodes' real token code writes its sealed files
    with fsync, which on a disk cost two thirds of a 50-publisher day at a report every 30
    minutes (docs/benchmarks.md); in memory the same day gives the same results."""
    shm = Path("/dev/shm")  # noqa: S108 - TemporaryDirectory makes a private (0700) folder in it
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def simulate(
    design: Design,
    settings: VirtualSettings,
    base: Topology,
    log_path: Path | None = None,
    *,
    engine: str | None = None,
) -> VirtualResult:
    """Run one design for the horizon on its own virtual-time event loop.

    Log lines (the nodes' own) go to ``log_path`` when given, else nowhere: a simulated week
    logs every failed refill of the report cache. ``engine``: the traffic engine, "c" or
    "python" (default: :func:`harness.virtual.engine.engine_name`'s choice; the same results).
    """
    started = time.perf_counter()
    with (
        _simulated_logs_to(log_path),
        tempfile.TemporaryDirectory(prefix="tokensim-virtual-", dir=memory_backed()) as state,
    ):

        async def main() -> VirtualResult:
            topology = virtual_topology(base, design, settings, Path(state))
            simulation = Simulation(design, settings, topology, engine)
            await simulation.run()
            return result_of(simulation)

        result = run_in_virtual_time(main)
    # The whole run: the estate, the week, and reading what users saw (a week's percentiles).
    return replace(result, wall_seconds=round(time.perf_counter() - started, 2))


@contextlib.contextmanager
def _simulated_logs_to(log_path: Path | None) -> Iterator[None]:
    """The simulated nodes' log lines (INFO and up) to ``log_path``, or nowhere, for the
    run; the caller's own logging (the root logger's handlers) is left as it is."""
    handler: logging.Handler = logging.NullHandler()
    if log_path is not None:
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in SIMULATED]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate
        handler.close()
