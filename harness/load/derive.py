"""The topology of one load run, derived from the user's: the run's token lifetime with every
period scaled to it, its private state folder, free ports, hosts, a Redis it starts, and the
design it runs. Written once to the run's folder, for the estate's processes to read."""

from __future__ import annotations

from pathlib import Path

from core.topology import (
    HealthCheckConfig,
    ReplicationConfig,
    RetryConfig,
    Topology,
    write_topology,
)
from harness.designs import REPLICATION_LAG
from harness.errors import NotOurEstate
from harness.estate.hosts import HostPlan
from harness.estate.processes import free_ports
from harness.estate.redis_server import RedisPlan
from harness.load.options import LoadOptions
from harness.virtual.timeline import LIFETIME


def derive_topology(
    base: Topology,
    folder: Path,
    options: LoadOptions,
    state: Path,
    plan: HostPlan | None = None,
    *,
    extra_publishers: int = 0,
    redis: RedisPlan | None = None,
) -> tuple[Topology, Path]:
    """The topology of one run, and where it was written once for the estate's processes:
    the user's topology.yaml with the run's lifetime and periods, its secrets under ``state``,
    on free ports if asked, and with ``plan``, its publishers on the hosts of that plan."""
    topology = base
    if extra_publishers:  # before the run's settings: its report cache counts them too
        topology = with_extra_publishers(topology, extra_publishers)
    topology = for_run(topology, options, state)
    if options.free_ports:
        topology = topology.on_ports(free_ports(topology.listeners))
    if plan is not None:
        topology = plan.place(topology)
        # A partitioned node's token call must give up within the run's time scale.
        topology = topology.evolve(ims=topology.ims.evolve(timeout=min(10.0, options.lifetime / 4)))
    if redis is not None:
        topology = redis.place(topology)
    return topology, write_topology(topology, folder / "topology.yaml")


def with_extra_publishers(topology: Topology, count: int) -> Topology:
    """The estate with ``count`` more publishers, each with its dispatcher (autoscale's
    instances), on ports nothing listens on now."""
    first_pub, first_disp = topology.publishers[0], topology.dispatchers[0]
    ports = iter(free_ports(2 * count))
    start = len(topology.publishers) + 1
    publishers = tuple(
        first_pub.evolve(id=f"p{i}", port=next(ports)) for i in range(start, start + count)
    )
    dispatchers = tuple(
        first_disp.evolve(id=f"d{i}", port=next(ports), publisher=f"p{i}")
        for i in range(start, start + count)
    )
    return topology.evolve(
        publishers=(*topology.publishers, *publishers),
        dispatchers=(*topology.dispatchers, *dispatchers),
    )


def report_refresh(base: Topology, life: float) -> float:
    """How often nodes refresh their report in a run: topology.yaml's cadence (Adobe's 30
    minutes) scaled from the real 24 h token lifetime to the run's, but never so short that the
    nodes together go over Analytics' rate limit (12 requests per 6 s per client): a run about
    the token must not turn into a run about throttling. 0 (every page load) stays 0."""
    cadence = base.analytics.report_refresh
    if cadence <= 0:
        return 0.0
    limit = base.simulation.analytics.rate_limit
    within_budget = len(base.publishers) * limit.per / limit.requests if limit.enabled else 0.0
    return max(cadence * life / LIFETIME, within_budget)


def for_run(base: Topology, options: LoadOptions, state: Path) -> Topology:
    """``base`` with the run's token lifetime, and every period scaled to it."""
    life = options.lifetime
    if base.lb is None:
        raise NotOurEstate("a load run needs the load balancer: topology.yaml has no lb section")
    sim = base.simulation
    interval = min(1.0, life / 8)
    lb = base.lb.evolve(
        sticky=base.lb.sticky.evolve(enabled=options.sticky),
        engine=options.lb_engine or base.lb.engine,
        # Checks scaled down with the lifetime, but not into a race with a busy machine: a
        # check may take most of an interval, and three must fail in a row (a stopped
        # publisher is still out within 1.5 s at a 4 s lifetime; a slow answer under Locust's
        # load is not mistaken for a dead publisher, which would move its sessions).
        health_check=HealthCheckConfig(
            path="/health",
            interval=interval,
            timeout=interval * 0.9,
            healthy_threshold=2,
            unhealthy_threshold=3,
        ),
    )
    topology = base.evolve(
        simulation=sim.evolve(
            state_dir=str((state / "sim").resolve()),
            ims=sim.ims.evolve(
                expires_in=life, faults=sim.ims.faults.evolve(latency=options.ims_latency)
            ),
        ),
        analytics=base.analytics.evolve(report_refresh=report_refresh(base, life)),
        lb=lb,
    ).with_token(
        state_dir=str(state.resolve()),
        key_file=None,  # the run's own keyring, generated in its state folder
        schedule_interval=life / 2,  # scheduled: a schedule that fits the short lifetime
        replication=ReplicationConfig(lag=life * REPLICATION_LAG),
        retry=RetryConfig(
            base=min(1.0, life / 20), cap=min(5.0, life / 4), config_error_interval=30
        ),
        wait_timeout=min(5.0, life / 4),
    )
    return options.design.applied(topology, life)
