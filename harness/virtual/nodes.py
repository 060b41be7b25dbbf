"""The nodes of a virtual estate: a publisher (its real token provider; its report is the
traffic engine's), and the author of the author-report design."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tokensim_token import TokenProvider
from tokensim_token.secrets import Secret

from core.topology import Topology
from node.published import NoTokens
from node.token.strategies import TokenDeps, build_provider

if TYPE_CHECKING:
    from harness.virtual.simulation import Simulation


@dataclass
class SimNode:
    node_id: str
    provider: TokenProvider
    generation: int  # this life of the node: its report's slot and its caller index


def publisher_tokens(sim: Simulation, node_id: str, seed: int) -> TokenProvider:
    """A publisher's token provider as its strategy builds it, against the simulated IMS, on
    the cluster's store and replication (which it joins: a leader, a follower, back up). With
    author-report a publisher holds no token."""
    if sim.published:
        provider: TokenProvider = NoTokens()
    else:
        deps = TokenDeps(
            secrets=(Secret("virtual-client-secret"),),
            keyring=sim.keyring,
            clock=sim.clock,
            rng=random.Random(seed),
            store=sim.store,
        )
        built = build_provider(
            as_seen_by(sim.topology, node_id),
            node_id,
            deps,
            sim.ims.fetcher(node_id),
            transport=sim.replication,
        )
        if built.leader is not None:
            sim.replication.leaders[node_id] = built.leader
        if built.follower is not None:
            sim.replication.followers[node_id] = built.follower
        provider = built.provider
    sim.replication.stopped.discard(node_id)
    return provider


async def start_author(sim: Simulation) -> SimNode:
    """The author of author-report, started: its own per-node token, its own IMS caller."""
    author = sim.topology.author
    assert author is not None  # the design adds it
    deps = TokenDeps(
        secrets=(Secret("virtual-client-secret"),),
        keyring=sim.keyring,
        clock=sim.clock,
        rng=random.Random(sim.settings.seed + 7),
    )
    own = sim.topology.with_token(strategy="per-node")
    built = build_provider(own, author.id, deps, sim.ims.fetcher(author.id))
    await built.provider.start()
    return SimNode(author.id, built.provider, 0)


def report_cadence(topology: Topology) -> float:
    """How often the report is fetched (0: on every page load). edge-cached: the CDN's one copy
    for the site, fetched again every max-age by whichever publisher the request lands on (the
    edge's policy, not Varnish itself). author-report: the author's schedule, never per view."""
    edge = topology.analytics.widget_cache
    if edge is not None:
        return edge.max_age
    cadence = topology.analytics.report_refresh
    return (cadence or 1800.0) if topology.analytics.published else cadence


def as_seen_by(topology: Topology, node_id: str) -> Topology:
    """The topology as ``node_id`` sees it: a node the tier scaled out with is in it."""
    if any(p.id == node_id for p in topology.publishers):
        return topology
    extra = topology.publishers[0].evolve(id=node_id, port=port_for(node_id))
    return topology.evolve(publishers=(*topology.publishers, extra))


def port_for(node_id: str) -> int:
    return 40_000 + sum(map(ord, node_id)) % 20_000  # never listened on: a name in the config
