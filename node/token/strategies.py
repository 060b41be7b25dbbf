"""The token strategies, registered: one entry per strategy says what builds it and what it needs.

Callers ask the registry instead of comparing strategy names: the node's application (which
routes it needs), the harness and its virtual world (how to build a node's provider), the
benchmarks. Adding a strategy touches this module (its entry and builder) and its tests.

========== ============================================ ====== =========== ===========
strategy   who calls IMS                                 store  cluster key replication
========== ============================================ ====== =========== ===========
per-node   each node alone, at half-life + jitter       no     no          no
shared     the holder of the store's lease              yes    yes         no
replicated the leader; followers only as a fallback     no     yes         yes
scheduled  the leader, every schedule_interval          yes    yes         no
naive      every request that finds none (the baseline) no     no          no
on-expiry  each node, once its token has expired        no     no          no
node-sch.. each node, every schedule_interval           no     no          no
========== ============================================ ====== =========== ===========

``on-expiry`` is AEM's own Adobe IMS integration as documented (a token per instance in
memory, reused until it expires); ``node-scheduler`` the community pattern of a scheduler on
every publisher (hourly: 24 token calls a day per publisher). Neither keeps the token on disk.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tokensim_token.backoff import Backoff
from tokensim_token.clock import Clock
from tokensim_token.coordination import (
    Coordinator,
    InMemory,
    OwnFile,
    SharedStore,
    SharedToken,
)
from tokensim_token.file_store import FileStore
from tokensim_token.keyring import Keyring
from tokensim_token.policy import FixedInterval, RefreshPolicy
from tokensim_token.provider import TokenFetcher, TokenProvider
from tokensim_token.refreshing import ProviderSettings, RefreshingTokenProvider
from tokensim_token.secrets import Secret
from tokensim_token.store import EncryptedTokenFile

from core.topology import Topology
from node.token.naive import NaiveTokenProvider
from node.token.on_expiry import OnExpiryTokenProvider
from node.token.replication import (
    ReplicaFollower,
    ReplicationLeader,
    ReplicationSettings,
    ReplicationTransport,
)
from node.token.scheduled import ScheduledTokenProvider


@dataclass(frozen=True, slots=True)
class TokenDeps:
    """What a node's token code needs from outside its config; tests inject a clock and rng."""

    secrets: Sequence[Secret]
    keyring: Keyring
    clock: Clock = dataclasses.field(default_factory=Clock.system)
    rng: random.Random = dataclasses.field(default_factory=random.SystemRandom)
    store_password: Secret | None = None  # token.store.password_env, read at start
    store: SharedStore | None = None  # instead of token.store's (the virtual world's own)


@dataclass(frozen=True, slots=True)
class Built:
    """A node's provider, and the parts of it others talk to."""

    provider: TokenProvider
    leader: ReplicationLeader | None = None  # replicated: the endpoint followers pull from
    follower: ReplicaFollower | None = None  # replicated: the endpoint the leader pushes to


@dataclass(frozen=True, slots=True)
class Wiring:
    """Everything a builder may use."""

    topology: Topology
    node_id: str
    deps: TokenDeps
    fetcher: TokenFetcher
    transport: ReplicationTransport | None

    @property
    def leader(self) -> str:
        return self.topology.token.leader or self.topology.publishers[0].id


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    summary: str
    build: Callable[[Wiring], Built]
    needs_store: bool = False  # a shared store (token.store: file or Redis)
    needs_cluster_key: bool = False  # every node must hold the same keyring
    needs_replication: bool = False  # the replication routes between publishers
    single_flight: bool = True  # concurrent callers share one call (naive: each its own)

    @property
    def cluster_token(self) -> bool:
        """One token for the whole cluster (rather than one per node)."""
        return self.needs_cluster_key


def _naive(w: Wiring) -> Built:
    return Built(NaiveTokenProvider(fetcher=w.fetcher, secrets=w.deps.secrets, clock=w.deps.clock))


def _scheduled(w: Wiring) -> Built:
    token = w.topology.token
    store = _shared_token(w)
    provider = ScheduledTokenProvider(
        fetcher=w.fetcher,
        secrets=w.deps.secrets,
        store=store,
        clock=w.deps.clock,
        rng=w.deps.rng,
        leader=w.node_id == w.leader,
        interval=token.schedule_interval,
        poll=token.peer_poll,
        wait_timeout=token.wait_timeout,
        backoff=Backoff(token.retry.base, token.retry.cap),
    )
    return Built(provider)


def _on_expiry(w: Wiring) -> Built:
    return Built(
        OnExpiryTokenProvider(fetcher=w.fetcher, secrets=w.deps.secrets, clock=w.deps.clock)
    )


def _build_refreshing(
    coordinate: Callable[[Wiring, RefreshPolicy], Coordinator], w: Wiring
) -> Built:
    """The refreshing provider with the coordinator ``coordinate`` makes. The registry below
    binds ``coordinate`` at import; everything else happens here, at call time."""
    token = w.topology.token
    policy = (
        FixedInterval(expiry_margin=token.expiry_margin, interval=token.schedule_interval)
        if token.strategy == "node-scheduler"
        else RefreshPolicy(token.refresh_at, token.refresh_jitter, token.expiry_margin)
    )
    settings = ProviderSettings(
        policy=policy,
        backoff=Backoff(token.retry.base, token.retry.cap),
        config_error_interval=token.retry.config_error_interval,
        wait_timeout=token.wait_timeout,
        peer_poll=token.peer_poll,
    )
    coordinator = coordinate(w, policy)
    provider = RefreshingTokenProvider(
        fetcher=w.fetcher,
        secrets=w.deps.secrets,
        settings=settings,
        clock=w.deps.clock,
        rng=w.deps.rng,
        coordinator=coordinator,
    )
    return Built(
        provider,
        leader=coordinator if isinstance(coordinator, ReplicationLeader) else None,
        follower=coordinator if isinstance(coordinator, ReplicaFollower) else None,
    )


def _own_file(w: Wiring, policy: RefreshPolicy | None = None) -> OwnFile:
    path = Path(w.topology.token.state_dir) / "nodes" / f"{w.node_id}.token"
    return OwnFile(EncryptedTokenFile(path, w.deps.keyring, owner=w.node_id))


def _in_memory(w: Wiring, policy: RefreshPolicy | None = None) -> InMemory:
    return InMemory(w.topology.token.strategy)


def _shared_token(w: Wiring, policy: RefreshPolicy | None = None) -> SharedToken:
    return SharedToken(
        _shared_store(w), w.deps.keyring, owner=w.node_id, lease_ttl=w.topology.token.lease_ttl
    )


def _replicated(w: Wiring, policy: RefreshPolicy) -> Coordinator:
    token = w.topology.token
    if w.transport is None:
        raise ValueError("the replicated strategy needs a transport between nodes")
    settings = ReplicationSettings(
        lag=token.replication.lag,
        loss=token.replication.loss,
        fallback=token.replication.fallback,
        leader_grace=token.wait_timeout / 2,  # so that waiting requests still get its token
    )
    own = _own_file(w)
    if w.node_id == w.leader:
        return ReplicationLeader(
            own,
            w.deps.keyring,
            node_id=w.node_id,
            followers=[p.id for p in w.topology.publishers if p.id != w.node_id],
            transport=w.transport,
            settings=settings,
            rng=w.deps.rng,
            wall_clock=w.deps.clock.wall,
        )
    return ReplicaFollower(
        own,
        w.deps.keyring,
        leader=w.leader,
        transport=w.transport,
        settings=settings,
        margin=policy.margin,
        wall_clock=w.deps.clock.wall,
    )


def _shared_store(w: Wiring) -> SharedStore:
    """Where ``shared`` and ``scheduled`` keep the cluster's token: ``token.store``."""
    if w.deps.store is not None:
        return w.deps.store
    return shared_store(w.topology, w.deps, purpose="token")


def shared_store(topology: Topology, deps: TokenDeps, *, purpose: str) -> SharedStore:
    """``token.store`` for ``purpose``: the cluster's token, or its report (beside it: another
    folder of the file store, another key prefix in Redis)."""
    config = topology.token.store
    folder = "shared" if purpose == "token" else f"shared-{purpose}"
    prefix = config.key_prefix if purpose == "token" else f"{config.key_prefix}:{purpose}"
    if config.kind == "redis":
        # Imported here: the Redis client takes 80 ms to import, a fifth of a node's start,
        # and only a cluster that chose Redis needs it.
        from tokensim_token.redis_store import RedisStore

        assert config.url is not None  # checked when topology.yaml was parsed
        return RedisStore(
            config.url,
            prefix=prefix,
            wall_clock=deps.clock.wall,
            password=deps.store_password,
            timeout=config.timeout,
        )
    return FileStore(Path(topology.token.state_dir) / folder, wall_clock=deps.clock.wall)


STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        s.name: s
        for s in (
            Strategy(
                "per-node",
                "each node keeps its own token, sealed on its disk, and refreshes it alone",
                functools.partial(_build_refreshing, _own_file),
            ),
            Strategy(
                "shared",
                "one token for the cluster in a store; the lease holder refreshes it",
                functools.partial(_build_refreshing, _shared_token),
                needs_store=True,
                needs_cluster_key=True,
            ),
            Strategy(
                "replicated",
                "the leader refreshes and pushes the sealed token to the followers",
                functools.partial(_build_refreshing, _replicated),
                needs_cluster_key=True,
                needs_replication=True,
            ),
            Strategy(
                "scheduled",
                "the leader refreshes on a fixed interval; every node uses what it published",
                _scheduled,
                needs_store=True,
                needs_cluster_key=True,
            ),
            Strategy(
                "naive",
                "the baseline: no proactive refresh, no single-flight, no persistence",
                _naive,
                single_flight=False,
            ),
            Strategy(
                "on-expiry",
                "AEM's IMS integration: a token in memory, fetched again once expired",
                _on_expiry,
            ),
            Strategy(
                "node-scheduler",
                "a scheduler on every node fetches a token every schedule_interval, in memory",
                functools.partial(_build_refreshing, _in_memory),
            ),
        )
    }
)


def strategy(name: str) -> Strategy:
    """The registered strategy ``name``; ValueError naming the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})") from None


def build_provider(
    topology: Topology,
    node_id: str,
    deps: TokenDeps,
    fetcher: TokenFetcher,
    *,
    transport: ReplicationTransport | None = None,
) -> Built:
    """The token provider ``token.strategy`` names, for node ``node_id``."""
    wiring = Wiring(topology, node_id, deps, fetcher, transport)
    return strategy(topology.token.strategy).build(wiring)
