"""Guards found by mutation testing and kept as tests of behaviour: health."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web

from core.topology import HealthCheckConfig
from harness.estate.processes import free_ports
from lb.health import HealthChecker
from lb.targets import Health, Target, TargetPool
from tests.support.world import serve


async def test_a_target_that_hangs_or_refuses_is_taken_out_and_says_why(
    stack: contextlib.AsyncExitStack,
) -> None:
    release = asyncio.Event()

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="too late")

    async def fine(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    hanging_app, fine_app = web.Application(), web.Application()
    hanging_app.router.add_get("/health", hang)
    fine_app.router.add_get("/health", fine)
    hanging, healthy = await serve(stack, hanging_app), await serve(stack, fine_app)
    (closed_port,) = free_ports(1)
    checks = HealthCheckConfig(
        interval=0.6, timeout=0.5, healthy_threshold=2, unhealthy_threshold=2, path="/health"
    )
    targets = [
        Target("d1", healthy, "p1"),
        Target("d2", hanging, "p2"),
        Target("d3", f"http://127.0.0.1:{closed_port}", "p3"),
    ]
    pool = TargetPool(targets, checks=checks, algorithm="round_robin")
    session = await stack.enter_async_context(aiohttp.ClientSession())
    checker = HealthChecker(pool, checks, session)
    running = asyncio.create_task(checker.run())
    try:
        await asyncio.sleep(2.5)  # checks every 0.6 s, each at most 0.5 s: 2 rounds or more
    finally:
        running.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert checker.rounds >= 2
    d1, d2, d3 = targets
    assert (d1.health, d1.last_problem) == (Health.HEALTHY, None)
    assert d2.health is not Health.HEALTHY  # never passed: never put in
    assert d2.last_problem == "health check failed (TimeoutError)"
    assert d3.health is not Health.HEALTHY
    assert d3.last_problem == "health check failed (ClientConnectorError)"
    chosen = {pool.choose().id for _ in range(6)}  # type: ignore[union-attr]
    assert chosen == {"d1"}
