"""Faults a simulated service injects, set in topology.yaml and changed at run time.

Order of application for each request: outage (503), added latency, throttling (429 with
Retry-After), random errors (``error_status``), malformed 200 replies.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from core.topology import FaultsConfig

ErrorReply = Callable[[int, str, str], web.Response]


class FaultInjector:
    def __init__(self, config: FaultsConfig, *, rng: random.Random, error_reply: ErrorReply):
        self.config = config
        self._rng = rng
        self._error_reply = error_reply

    def update(self, changes: dict[str, Any]) -> FaultsConfig:
        """Apply a partial update (validated like topology.yaml); raise ValueError if bad."""
        try:
            self.config = FaultsConfig.model_validate({**self.config.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None
        return self.config

    async def before(self) -> web.Response | None:
        """A fault reply to send instead of the real one, or None to proceed."""
        c = self.config
        if c.outage:
            return self._error_reply(503, "service_unavailable", "simulated outage")
        if c.latency > 0:
            await asyncio.sleep(c.latency)
        if c.throttle_rate and self._rng.random() < c.throttle_rate:
            reply = self._error_reply(429, "too_many_requests", "simulated throttling")
            reply.headers["Retry-After"] = str(max(1, math.ceil(c.retry_after)))
            return reply
        if c.error_rate and self._rng.random() < c.error_rate:
            return self._error_reply(c.error_status, "server_error", "simulated error")
        return None

    def malformed(self) -> bool:
        return bool(self.config.malformed_rate) and self._rng.random() < self.config.malformed_rate
