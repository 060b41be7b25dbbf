"""The load balancer's targets, their health, and how a new session picks one.

Health follows ALB: a target turns healthy after ``healthy_threshold`` consecutive passing
checks and unhealthy after ``unhealthy_threshold`` failures; a new target is healthy after its
first passing check. A connection failure marks a target down at once (passive check). When no
target is healthy the balancer fails open and uses them all, as ALB does. A deregistered target
drains: no new requests, the ones in flight finish, and after the deregistration delay it is
unused.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from core.topology import HealthCheckConfig, Topology


@dataclass(frozen=True, slots=True)
class Backend:
    """What the balancer sends to: a dispatcher, standing for its publisher."""

    id: str
    host: str
    port: int
    label: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def backends_of(topology: Topology) -> list[Backend]:
    """The dispatchers, each standing for its publisher; the publishers if there are none."""
    if topology.dispatchers:
        return [Backend(d.id, d.host, d.port, d.publisher) for d in topology.dispatchers]
    return [Backend(p.id, p.host, p.port, p.id) for p in topology.publishers]


class Health(enum.Enum):
    INITIAL = "initial"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(slots=True)
class Target:
    id: str
    url: str
    label: str
    health: Health = Health.INITIAL
    draining_until: float | None = None
    passes: int = 0
    fails: int = 0
    in_flight: int = 0
    requests: int = 0
    sessions: int = 0
    errors: int = 0
    last_problem: str | None = None

    def state(self, now: float) -> str:
        if self.draining_until is not None:
            return "draining" if now < self.draining_until else "unused"
        return self.health.value


class TargetPool:
    def __init__(
        self, targets: Iterable[Target], *, checks: HealthCheckConfig, algorithm: str
    ) -> None:
        self.targets = list(targets)
        self._by_id = {t.id: t for t in self.targets}
        self._checks = checks
        self._least_outstanding = algorithm == "least_outstanding"
        self._next = 0
        self.fail_open = 0

    def get(self, target_id: str | None) -> Target | None:
        return self._by_id.get(target_id) if target_id else None

    def usable(self, target: Target) -> bool:
        return target.health is Health.HEALTHY and target.draining_until is None

    def choose(self, *, exclude: frozenset[str] = frozenset()) -> Target | None:
        """A target for a new session: healthy ones in turn; all registered ones if none is."""
        candidates = [t for t in self.targets if self.usable(t) and t.id not in exclude]
        if not candidates:
            candidates = [
                t for t in self.targets if t.draining_until is None and t.id not in exclude
            ]
            if not candidates:
                return None
            self.fail_open += 1
        if self._least_outstanding:
            low = min(t.in_flight for t in candidates)
            candidates = [t for t in candidates if t.in_flight == low]
        self._next += 1
        return candidates[self._next % len(candidates)]

    def record_check(self, target: Target, ok: bool, problem: str | None = None) -> None:
        if ok:
            target.passes, target.fails = target.passes + 1, 0
            needed = 1 if target.health is Health.INITIAL else self._checks.healthy_threshold
            if target.health is not Health.HEALTHY and target.passes >= needed:
                target.health = Health.HEALTHY
        else:
            target.passes, target.fails = 0, target.fails + 1
            target.last_problem = problem
            if target.health is Health.HEALTHY and target.fails >= self._checks.unhealthy_threshold:
                target.health = Health.UNHEALTHY

    def mark_down(self, target: Target, problem: str) -> None:
        """Passive check: the target failed a real request; take it out until checks pass."""
        target.health = Health.UNHEALTHY
        target.passes = 0
        target.last_problem = problem

    def deregister(self, target: Target, *, now: float, delay: float) -> None:
        target.draining_until = now + delay

    def register(self, target: Target) -> None:
        target.draining_until = None
        target.health = Health.INITIAL
        target.passes = target.fails = 0
