"""The load balancer's state: shared by the data path and the admin application."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from core.topology import LbConfig
from lb.cookies import StickyCookieCodec
from lb.targets import TargetPool


@dataclass(slots=True)
class Counters:
    requests: int = 0
    retries: int = 0
    sessions_moved: int = 0
    no_target: int = 0
    refused: collections.Counter[int] = field(default_factory=collections.Counter)  # by status
    # the control plane's refusals (foreign Host, cross-site), by reason
    control_refused: collections.Counter[str] = field(default_factory=collections.Counter)
    connections: Callable[[], int] = lambda: 0  # client connections open now


@dataclass(slots=True)
class Balancer:
    config: LbConfig
    pool: TargetPool
    codec: StickyCookieCodec
    clock: Callable[[], float]
    counters: Counters = field(default_factory=Counters)
    health_rounds: Callable[[], int] = lambda: 0

    def serving(self) -> bool:
        """Health checks have run and found a target to send to."""
        return self.health_rounds() > 0 and any(self.pool.usable(t) for t in self.pool.targets)


BALANCER = web.AppKey("balancer", Balancer)
