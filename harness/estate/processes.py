"""The estate's services as processes to start: what each runs (``python -m <module>`` with
its arguments, on which host), on which ports, in which environment. Starting and watching
them is :mod:`harness.estate.supervisor`'s job.

The harness never imports the services: it runs them and talks HTTP.
"""

from __future__ import annotations

import errno
import os
import random
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.topology import Topology
from harness.errors import StartupError
from harness.estate.hosts import NetworkHosts

PR_SET_PDEATHSIG = 1
# An empty CA bundle: what the children trust when nothing of the estate speaks TLS. aiohttp
# makes its default TLS contexts when it is imported, and each loaded the system's bundle:
# 40 ms of CPU in every service, a tenth of its start (docs/benchmarks.md).
NO_CERTIFICATES = Path(__file__).with_name("no-certificates.pem")


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
    without_env: tuple[str, ...] = ()  # not in its environment (publishers of author-report)

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
    """The services topology.yaml describes, in start order: upstream, the author (when the
    publishers take a published report), publishers, dispatchers, load balancer (each waits
    on what it fronts being there), the CDN (edge-cached), each given ``log_level``."""
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

    author = topology.author
    published = topology.analytics.published
    if author is not None and published:  # the author holds the only client secret
        specs.append(ServiceSpec(author.id, "author", common, author.host, author.port))
    specs += [
        ServiceSpec(
            p.id,
            "node",
            (*common, "--id", p.id),
            p.host,
            p.port,
            prefix=on(p.id),
            without_env=tuple(topology.ims.client_secret_env) if published else (),
        )
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
    if topology.cdn is not None:  # in front of the balancer (edge-cached)
        specs.append(
            ServiceSpec(
                "cdn", "lb.cdn", common, topology.cdn.host, topology.cdn.port, "/cdn/health"
            )
        )
    if only is not None:
        unknown = only - {s.id for s in specs}
        if unknown:
            known = ", ".join(s.id for s in specs)
            raise StartupError(f"--only: unknown service {sorted(unknown)[0]!r} (known: {known})")
        specs = [s for s in specs if s.id in only]
    return specs


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
FREE_PORTS_SPAN = 10_000  # how many ports below the ephemeral range free_ports draws from


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now, for an estate that must not clash with another.

    Drawn below the kernel's ephemeral range: a port from that range (what binding port 0
    gives) can be taken as the local port of any outgoing connection between this choice and
    the service's own bind, which then fails (seen: "ims: port 40281 is already in use")."""
    high = _ephemeral_low()
    candidates = list(range(max(1024, high - FREE_PORTS_SPAN), high))
    random.SystemRandom().shuffle(candidates)
    chosen: list[socket.socket] = []
    try:
        for port in candidates:
            if len(chosen) == count:
                break
            probe = socket.socket()
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the services bind
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                probe.close()
                continue
            chosen.append(probe)
        if len(chosen) < count:
            raise StartupError(f"{count} free ports wanted below {high}; found {len(chosen)}")
        return [probe.getsockname()[1] for probe in chosen]
    finally:
        for probe in chosen:
            probe.close()


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default when unreadable)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


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


TIERS = ("upstream", "author", "node", "lb.dispatcher", "lb", "lb.cdn")


def tiers(specs: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    def rank(spec: ServiceSpec) -> int:
        return TIERS.index(
            spec.module.split(".")[0] if spec.module.startswith("upstream") else spec.module
        )

    ranks = sorted({rank(s) for s in specs})
    return [[s for s in specs if rank(s) == r] for r in ranks]


def child_environment(
    topology: Topology, environ: Mapping[str, str]
) -> tuple[dict[str, str], bool]:
    """The environment for the children; generate a simulation client secret if none is set.

    Returns the environment and whether a secret was generated. A generated secret is shared
    by the simulated IMS and the nodes of this run only; a real deployment sets its own.
    When no address of the estate is https (or rediss), the children have no certificate to
    verify and get an empty CA bundle (:data:`NO_CERTIFICATES`), whatever the caller's; else
    the caller's stands.
    """
    env = dict(environ)
    if not speaks_tls(topology):
        env["SSL_CERT_FILE"] = str(NO_CERTIFICATES)
    names = topology.ims.client_secret_env
    if any(env.get(name) for name in names):
        return env, False
    env[names[0]] = os.urandom(24).hex()
    return env, True


def speaks_tls(topology: Topology) -> bool:
    """Whether any address in the topology is one TLS is spoken to (https, rediss)."""
    written = topology.model_dump_json()
    return "https://" in written or "rediss://" in written
