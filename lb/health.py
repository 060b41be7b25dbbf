"""Active health checks: every target, every interval, concurrently."""

from __future__ import annotations

import asyncio

import aiohttp

from core.topology import HealthCheckConfig
from lb.targets import Target, TargetPool


class HealthChecker:
    def __init__(
        self, pool: TargetPool, config: HealthCheckConfig, session: aiohttp.ClientSession
    ) -> None:
        self._pool = pool
        self._config = config
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self.rounds = 0
        self.first_round = asyncio.Event()

    async def run(self) -> None:
        while True:
            await asyncio.gather(
                *(self._check(t) for t in self._pool.targets if t.draining_until is None)
            )
            self.rounds += 1
            self.first_round.set()
            await asyncio.sleep(self._config.interval)

    async def _check(self, target: Target) -> None:
        try:
            async with self._session.get(
                target.url + self._config.path, timeout=self._timeout
            ) as response:
                await response.read()
                ok, problem = response.status == 200, f"health check answered {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, problem = False, f"health check failed ({type(exc).__name__})"
        self._pool.record_check(target, ok, None if ok else problem)
