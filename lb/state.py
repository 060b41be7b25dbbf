"""The load balancer's state, one object under one typed app key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
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
    session: aiohttp.ClientSession | None = None
    health_rounds: Callable[[], int] = lambda: 0

    @property
    def cookie_prefix(self) -> str:
        return f"{self.config.sticky.cookie}="

    @property
    def cookie_suffix(self) -> str:
        sticky = self.config.sticky
        secure = "; Secure" if sticky.secure else ""
        return f"; Max-Age={int(sticky.duration)}; Path=/; HttpOnly; SameSite=Lax{secure}"

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self.session is not None, "used before the app started"
        return self.session


BALANCER = web.AppKey("balancer", Balancer)
