"""Serve an aiohttp application until SIGTERM/SIGINT, draining first.

Every service's ``run(...)`` ends here. Tests do not use it: they start the same
``create_app(...)`` on port 0 with ``AppRunner`` + ``TCPSite``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from core.errors import PortInUseError
from core.topology import ClientLimitsConfig, Topology

logger = logging.getLogger(__name__)

BACKLOG = 2048  # load tests open hundreds of connections at once; the default is 128


@dataclass(slots=True)
class Lifecycle:
    """Whether the service is stopping; ``/health`` answers 503 while it drains."""

    draining: bool = False


LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

# What a hop adds to a request it forwards (X-Forwarded-For grows by one address, Via and the
# like): the margin by which a hop behind the balancer accepts more than the balancer admits.
HOP_MARGIN = 1024


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """The longest request line and header a service accepts (aiohttp's default: 8190 each).

    A hop behind the balancer must take whatever the balancer admitted (ALB: 16 KB each),
    or a request the first hop accepted fails at the second, in its logs: the first hop
    refuses what the next cannot take."""

    request_line: int
    header: int

    @classmethod
    def behind_balancer(cls, topology: Topology, hops: int) -> HeadLimits:
        """The limits of the ``hops``-th service behind the estate's balancer (its
        ``lb.limits``; ALB's quotas where there is no ``lb`` section)."""
        limits = topology.lb.limits if topology.lb is not None else ClientLimitsConfig()
        margin = hops * HOP_MARGIN
        return cls(int(limits.request_line) + margin, int(limits.header) + margin)


HEAD_LIMITS = web.AppKey("head_limits", HeadLimits)


def app_runner(app: web.Application, **kwargs: object) -> web.AppRunner:
    """An ``AppRunner`` for ``app`` that accepts the heads ``app[HEAD_LIMITS]`` allows."""
    limits = app.get(HEAD_LIMITS)
    if limits is not None:
        kwargs |= {"max_line_size": limits.request_line, "max_field_size": limits.header}
    return web.AppRunner(app, access_log=None, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def port_in_use_named(host: str, port: int) -> Iterator[None]:
    """Turn "address already in use" while starting to listen into PortInUseError."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"{host}:{port} is already in use by another process") from None
        raise


def lifecycle_of(app: web.Application) -> Lifecycle:
    """The app's lifecycle, created on first use."""
    if LIFECYCLE not in app:
        app[LIFECYCLE] = Lifecycle()
    return app[LIFECYCLE]


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    drain: float = 0.0,
    name: str = "service",
    shutdown_timeout: float = 60.0,
) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT, then drain and clean up.

    Draining: ``/health`` turns 503 for ``drain`` seconds so a load balancer stops sending new
    requests, while requests in flight complete (for up to ``shutdown_timeout`` seconds,
    aiohttp's graceful period); then the app's cleanup contexts run.
    """
    lifecycle = lifecycle_of(app)
    runner = app_runner(app, handle_signals=False, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=BACKLOG)
    try:
        with port_in_use_named(host, port):
            await site.start()
    except Exception:
        await runner.cleanup()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info("%s listening on http://%s:%d", name, host, port)
    try:
        await stop.wait()
        lifecycle.draining = True
        if drain > 0:
            logger.info("%s draining for %.1fs", name, drain)
            await asyncio.sleep(drain)
    finally:
        logger.info("%s stopping", name)
        await runner.cleanup()
