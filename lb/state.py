"""The load balancer's state: shared by the data path and the admin application."""

from __future__ import annotations

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


@dataclass(slots=True)
class Balancer:
    config: LbConfig
    pool: TargetPool
    codec: StickyCookieCodec
    clock: Callable[[], float]
    counters: Counters = field(default_factory=Counters)
    health_rounds: Callable[[], int] = lambda: 0


BALANCER = web.AppKey("balancer", Balancer)
