"""The author's application: the only holder of the client secret and of a token in the
author-report design. It fetches "most visited pages" on Adobe's cadence, as a publisher of
the other designs does (:class:`node.reports.TopPagesService`, its own per-node token), seals
each new report with the cluster keyring and hands it to one replication agent per publisher
(:mod:`author.agent`).

Routes (a control plane: loopback or private address, :mod:`core.control_plane`): ``/health``,
``/status`` (its token, its report, every agent's queue) and ``GET /content/top-pages.sealed``
(the current report, sealed: what a new publisher takes at start).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from tokensim_token import TokenProvider

from author.agent import ReplicationAgent, Target
from core.control_plane import ControlPlaneGuard
from core.service import lifecycle_of
from core.topology import Topology
from node.clients import analytics_client, ims_client
from node.published import AUTHOR_REPORT_PATH
from node.report_sharing import SharedPages, seal_report
from node.reports import TopPages, TopPagesService
from node.token.strategies import TokenDeps, build_provider


@dataclasses.dataclass
class AuthorState:
    agents: list[ReplicationAgent]
    reports: TopPagesService | None = None
    current: bytes | None = None  # the last report, sealed
    published: int = 0


AUTHOR = web.AppKey("author", AuthorState)
TOKENS = web.AppKey("author_tokens", TokenProvider)


def create_app(topology: Topology, deps: TokenDeps) -> web.Application:
    if topology.author is None:
        raise ValueError("the topology has no author section")
    guard = ControlPlaneGuard([topology.author.host])
    app = web.Application(middlewares=[guard.middleware])
    app[AUTHOR] = AuthorState(agents=[])
    lifecycle_of(app)
    app.cleanup_ctx.append(_services(topology, deps))
    app.router.add_get("/health", health)
    app.router.add_get("/status", status)
    app.router.add_get(AUTHOR_REPORT_PATH, current_report)
    return app


def _services(
    topology: Topology, deps: TokenDeps
) -> Callable[[web.Application], AsyncIterator[None]]:
    author = topology.author
    assert author is not None

    async def services(app: web.Application) -> AsyncIterator[None]:
        state = app[AUTHOR]
        user_agent = f"tokensim-author/{author.id}"
        async with aiohttp.ClientSession() as session:
            fetcher = ims_client(
                session, topology, user_agent=user_agent, wall_clock=deps.clock.wall
            )
            own = topology.with_token(strategy="per-node")  # the author's own sealed token
            provider = build_provider(own, author.id, deps, fetcher).provider
            analytics = analytics_client(
                session, topology, user_agent=user_agent, wall_clock=deps.clock.wall
            )
            by_publisher: dict[str, list[str]] = {}
            for d in topology.dispatchers:
                by_publisher.setdefault(d.publisher, []).append(d.url)
            state.agents = [
                ReplicationAgent(
                    Target(p.id, p.url, tuple(by_publisher.get(p.id, ()))),
                    session,
                    retry=author.retry,
                    retry_cap=author.retry_cap,
                    flush=author.flush,
                    timeout=topology.ims.timeout,
                    clock=deps.clock.monotonic,
                )
                for p in topology.publishers
            ]

            def publish(report: TopPages) -> None:
                blob = seal_report(deps.keyring, SharedPages(report.pages, report.fetched_at))
                state.current = blob
                state.published += 1
                for agent in state.agents:
                    agent.enqueue(blob)

            state.reports = TopPagesService(
                analytics=analytics,
                tokens=provider,
                refresh=topology.analytics.report_refresh or 1800.0,
                jitter=topology.analytics.report_jitter,
                clock=deps.clock,
                rng=deps.rng,
                on_report=publish,
            )
            for agent in state.agents:
                agent.start()
            await provider.start()
            await state.reports.start()
            app[TOKENS] = provider
            try:
                yield
            finally:
                await state.reports.close()
                for agent in state.agents:
                    await agent.close()
                await provider.close()

    return services


async def health(request: web.Request) -> web.Response:
    draining = lifecycle_of(request.app).draining
    return web.json_response(
        {"status": "draining" if draining else "serving"},
        status=503 if draining else 200,
        headers={"Cache-Control": "no-store"},
    )


async def status(request: web.Request) -> web.Response:
    """The author's token (fingerprint, never the value), its report and every queue."""
    state = request.app[AUTHOR]
    provider = request.app.get(TOKENS)
    token = dataclasses.asdict(provider.status()) if provider is not None else None
    if token is not None:
        token["state"] = token["state"].value
    reports = state.reports
    return web.json_response(
        {
            "token": token,
            "reports": dict(reports.outcomes) if reports is not None else {},
            "published": state.published,
            "agents": [a.status() for a in state.agents],
        },
        headers={"Cache-Control": "no-store"},
    )


async def current_report(request: web.Request) -> web.Response:
    blob = request.app[AUTHOR].current
    if blob is None:
        raise web.HTTPNotFound(text="no report published yet\n")
    return web.Response(
        body=blob, content_type="application/octet-stream", headers={"Cache-Control": "no-store"}
    )
