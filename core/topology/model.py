"""The whole of topology.yaml: :class:`Topology`, its consistency checks (ids, ports,
references) and the copies derived from it (the same estate elsewhere, or with another token
design): the one typed place where a topology is changed. Each derived copy is validated again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator

from core.errors import TopologyError
from core.topology.endpoints import AnalyticsConfig, ImsConfig
from core.topology.errors import describe
from core.topology.estate import (
    AuthorConfig,
    CdnConfig,
    DispatcherConfig,
    DispatcherSettings,
    LbConfig,
    PublisherConfig,
)
from core.topology.fields import KeyPathError, Model
from core.topology.simulation import SimulationConfig
from core.topology.token import TokenConfig


class Topology(Model):
    """Everything in topology.yaml. Build it with :func:`load_topology` or :meth:`from_dict`."""

    ims: ImsConfig
    analytics: AnalyticsConfig
    # Defaults are validated too, so their relative paths resolve against the file's folder.
    token: TokenConfig = Field(default_factory=dict, validate_default=True)
    publishers: Annotated[tuple[PublisherConfig, ...], Field(min_length=1)]
    dispatchers: tuple[DispatcherConfig, ...] = ()
    dispatcher: DispatcherSettings = DispatcherSettings()
    lb: LbConfig | None = None
    author: AuthorConfig | None = None
    cdn: CdnConfig | None = None
    simulation: SimulationConfig = Field(default_factory=dict, validate_default=True)

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        _check_unique_ids(self)
        _check_ports(self)
        _check_references(self)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None) -> Topology:
        """Validate a mapping; raise :class:`TopologyError` naming every bad key path."""
        try:
            return cls.model_validate(data, context={"base_dir": base_dir})
        except ValidationError as exc:
            raise TopologyError(describe(exc, cls)) from None

    # --- derived copies: the one typed place where a topology is changed ------------------

    def with_token(self, **changes: Any) -> Topology:
        """The same estate with these ``token`` keys changed (strategy, state_dir, ...)."""
        return self.evolve(token=self.token.evolve(**changes))

    def pointing_at_simulation(self) -> Topology:
        """``ims.token_url`` and ``analytics.base_url`` at the simulated services."""
        sim = self.simulation
        return self.evolve(
            ims=self.ims.evolve(token_url=sim.ims.token_url),
            analytics=self.analytics.evolve(base_url=sim.analytics.url),
        )

    @property
    def listeners(self) -> int:
        """How many ports the estate listens on (what :meth:`on_ports` takes)."""
        lb = 2 if self.lb is not None else 0  # its public port and its control plane
        author = 1 if self.author is not None else 0
        cdn = 1 if self.cdn is not None else 0
        return 2 + len(self.publishers) + len(self.dispatchers) + lb + author + cdn

    def on_ports(self, ports: Iterable[int]) -> Topology:
        """The same estate with every listener on the next of ``ports`` (simulated IMS and
        Analytics, publishers, dispatchers, the balancer and its control plane), pointed at
        the simulated services there."""
        free = iter(ports)
        sim = self.simulation
        lb = self.lb
        if lb is not None:
            lb = lb.evolve(port=next(free), admin=lb.admin.evolve(port=next(free)))
        author = self.author.evolve(port=next(free)) if self.author is not None else None
        cdn = self.cdn.evolve(port=next(free)) if self.cdn is not None else None
        return self.evolve(
            author=author,
            cdn=cdn,
            simulation=sim.evolve(
                ims=sim.ims.evolve(port=next(free)),
                analytics=sim.analytics.evolve(port=next(free)),
            ),
            publishers=tuple(p.evolve(port=next(free)) for p in self.publishers),
            dispatchers=tuple(d.evolve(port=next(free)) for d in self.dispatchers),
            lb=lb,
        ).pointing_at_simulation()

    def on_hosts(self, *, ims: str, analytics: str, publishers: Mapping[str, str]) -> Topology:
        """The same estate with each publisher, and the dispatcher in front of it, at the
        address ``publishers`` gives it, and IMS and Analytics at theirs; the balancer stays
        where it is (it reaches the dispatchers over the network)."""
        sim = self.simulation
        return self.evolve(
            simulation=sim.evolve(
                ims=sim.ims.evolve(host=ims), analytics=sim.analytics.evolve(host=analytics)
            ),
            publishers=tuple(p.evolve(host=publishers[p.id]) for p in self.publishers),
            dispatchers=tuple(d.evolve(host=publishers[d.publisher]) for d in self.dispatchers),
        ).pointing_at_simulation()

    def dispatcher_of(self, dispatcher_id: str) -> DispatcherConfig:
        for dispatcher in self.dispatchers:
            if dispatcher.id == dispatcher_id:
                return dispatcher
        known = ", ".join(d.id for d in self.dispatchers) or "none"
        raise TopologyError(
            f"--id: no dispatcher {dispatcher_id!r} in the topology (known: {known})"
        )

    def publisher(self, node_id: str) -> PublisherConfig:
        for publisher in self.publishers:
            if publisher.id == node_id:
                return publisher
        known = ", ".join(p.id for p in self.publishers)
        raise TopologyError(f"--id: no publisher {node_id!r} in the topology (known: {known})")


def _check_unique_ids(topo: Topology) -> None:
    seen: dict[str, str] = {}
    for path, service_id in _ids(topo):
        if service_id in seen:
            raise KeyPathError(path, f"duplicate id {service_id!r} (also {seen[service_id]})")
        seen[service_id] = path


def _ids(topo: Topology) -> Iterator[tuple[str, str]]:
    if topo.author is not None:
        yield "author.id", topo.author.id
    for i, p in enumerate(topo.publishers):
        yield f"publishers[{i}].id", p.id
    for i, d in enumerate(topo.dispatchers):
        yield f"dispatchers[{i}].id", d.id


def _check_ports(topo: Topology) -> None:
    seen: dict[tuple[str, int], str] = {}
    for path, host, port in _listeners(topo):
        key = ("*" if host in ("0.0.0.0", "::") else host, port)  # noqa: S104 (comparison only)
        clash = seen.get(key) or seen.get(("*", port))
        if clash:
            raise KeyPathError(path, f"port {port} is used twice (also by {clash})")
        seen[key] = path


def _listeners(topo: Topology) -> Iterator[tuple[str, str, int]]:
    sim = topo.simulation
    yield "simulation.ims.port", sim.ims.host, sim.ims.port
    yield "simulation.analytics.port", sim.analytics.host, sim.analytics.port
    for i, p in enumerate(topo.publishers):
        yield f"publishers[{i}].port", p.host, p.port
    for i, d in enumerate(topo.dispatchers):
        yield f"dispatchers[{i}].port", d.host, d.port
    if topo.author is not None:
        yield "author.port", topo.author.host, topo.author.port
    if topo.cdn is not None:
        yield "cdn.port", topo.cdn.host, topo.cdn.port
    if topo.lb is not None:
        yield "lb.port", topo.lb.host, topo.lb.port
        yield "lb.admin.port", topo.lb.admin.host, topo.lb.admin.port


def _check_references(topo: Topology) -> None:
    if topo.cdn is not None and topo.lb is None:
        raise KeyPathError("cdn", "the CDN sits in front of the balancer: add an lb section")
    if topo.analytics.published and topo.author is None:
        raise KeyPathError(
            "author",
            "required when analytics.report_source is published (the author-report design): "
            "e.g. author: {port: 4502}",
        )
    known = [p.id for p in topo.publishers]
    if topo.token.leader is not None and topo.token.leader not in known:
        raise KeyPathError(
            "token.leader",
            f"no publisher with id {topo.token.leader!r} (known: {', '.join(known)})",
        )
    for i, d in enumerate(topo.dispatchers):
        if d.publisher not in known:
            raise KeyPathError(
                f"dispatchers[{i}].publisher",
                f"no publisher with id {d.publisher!r} (known: {', '.join(known)})",
            )
