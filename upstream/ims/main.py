"""Run the simulated IMS from topology.yaml."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from pathlib import Path

from tokensim_token.clock import Clock

from core.logs import configure_logging
from core.secrets import secrets_from_env
from core.service import serve
from core.topology import Topology
from upstream.ims.app import ImsDeps, create_app
from upstream.ims.keys import ImsKeys


def build_deps(topology: Topology, environ: Mapping[str, str]) -> ImsDeps:
    """Raises MissingSecretError when no accepted client secret is set."""
    names = topology.simulation.ims.client_secret_env or topology.ims.client_secret_env
    key_path = (
        "simulation.ims.client_secret_env"
        if topology.simulation.ims.client_secret_env
        else "ims.client_secret_env"
    )
    clock = Clock.system()
    return ImsDeps(
        client_id=topology.ims.client_id,
        accepted_secrets=secrets_from_env(names, environ, key_path=key_path),
        keys=ImsKeys(Path(topology.simulation.state_dir), wall_clock=clock.wall),
        clock=clock,
        rng=random.Random(),
    )


def run(topology: Topology, environ: Mapping[str, str], log_level: str) -> None:
    deps = build_deps(topology, environ)
    configure_logging("ims", log_level, deps.accepted_secrets)
    config = topology.simulation.ims
    asyncio.run(serve(create_app(config, deps), host=config.host, port=config.port, name="ims"))
