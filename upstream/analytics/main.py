"""Run the simulated Analytics from topology.yaml."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from tokensim_token.clock import Clock

from core.logs import configure_logging
from core.service import serve
from core.topology import Topology
from upstream.analytics.app import AnalyticsDeps, create_app
from upstream.analytics.traffic import TrafficModel
from upstream.analytics.verify import TokenVerifier
from upstream.ims.keys import Revocations


def build_deps(topology: Topology) -> AnalyticsDeps:
    sim = topology.simulation.analytics
    clock = Clock.system()
    verifier = TokenVerifier(
        topology.simulation.ims.url + "/ims/keys",
        Revocations(Path(topology.simulation.state_dir) / "ims-revocations.json"),
        wall_clock=clock.wall,
        monotonic=clock.monotonic,
    )
    return AnalyticsDeps(
        company_id=topology.analytics.company_id,
        client_id=topology.ims.client_id,
        verifier=verifier,
        clock=clock,
        rng=random.Random(),
        traffic=TrafficModel(
            pages=sim.pages,
            daily_visits=sim.daily_visits,
            drift_period=sim.drift_period,
            seed=sim.seed,
        ),
    )


def run(topology: Topology, log_level: str) -> None:
    configure_logging("analytics", log_level)
    config = topology.simulation.analytics
    app = create_app(config, build_deps(topology))
    # The estate stops Analytics after every caller of it: a report call still "running" (the
    # latency model holds it for seconds) has nobody to answer, so it is not waited for (with
    # aiohttp's default 60 s grace, an estate took about 4 s more to stop, once per run).
    serve_it = serve(
        app, host=config.host, port=config.port, name="analytics", shutdown_timeout=0.5
    )
    asyncio.run(serve_it)
