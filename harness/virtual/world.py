"""The token side of the virtual world's outside, in process: IMS, and the links between nodes
(token replication, the shared report store). Analytics is in :mod:`harness.virtual.analytics`.

The simulated HTTP services (:mod:`upstream`) are the reference for behaviour; these are their
in-process twins, so that a week of fifty nodes runs in seconds. IMS issues opaque tokens with
``expires_in`` and can be down or flaky, taking a (virtual) latency, and says until when
Analytics accepts a token (its expiry, unless a revocation came after it was issued).
"""

from __future__ import annotations

import asyncio
import math
import secrets as random_tokens
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tokensim_token import ImsUnavailable, TokenGrant
from tokensim_token.clock import Clock
from tokensim_token.errors import ReplicationError
from tokensim_token.secrets import Secret

from node.token.replication import ReplicaFollower, ReplicationLeader


@dataclass
class ImsFaults:
    outage: bool = False
    error_rate: float = 0.0


@dataclass
class VirtualIms:
    clock: Clock
    lifetime: int
    latency: float
    chance: Callable[[], float]
    faults: ImsFaults = field(default_factory=ImsFaults)
    issued_by_caller: Counter[str] = field(default_factory=Counter)
    issued_log: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, caller)
    in_flight: int = 0
    peak_in_flight: int = 0
    _expiry: dict[str, float] = field(default_factory=dict)  # token -> wall expiry
    _issued_at: dict[str, float] = field(default_factory=dict)
    _revoked_before: float = float("-inf")
    revocations: int = 0  # so far: Analytics' answer for a token changes only at one

    async def issue(self, caller: str) -> TokenGrant:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            if self.faults.outage or self.chance() < self.faults.error_rate:
                raise ImsUnavailable("IMS answered 503 (simulated fault)")
            value = "vt." + random_tokens.token_urlsafe(24)
            now = self.clock.wall()
            self._expiry[value] = now + self.lifetime
            self._issued_at[value] = now
            self.issued_by_caller[caller] += 1
            self.issued_log.append((self.clock.monotonic(), caller))
            return TokenGrant(Secret(value), self.lifetime)
        finally:
            self.in_flight -= 1

    def revoke_all(self) -> None:
        self._revoked_before = self.clock.wall()
        self.revocations += 1

    def accepted_until(self, value: str) -> float:
        """The wall time until which Analytics takes ``value``: its expiry, or never (-inf)
        when IMS did not issue it or revoked it. Changes only at a revocation."""
        expiry = self._expiry.get(value)
        if expiry is None or self._issued_at[value] <= self._revoked_before:
            return -math.inf
        return expiry

    def fetcher(self, caller: str) -> ImsFetcher:
        return ImsFetcher(self, caller)


@dataclass(frozen=True, slots=True)
class ImsFetcher:
    """A node's TokenFetcher: the in-process IMS, called as ``caller``."""

    ims: VirtualIms
    caller: str

    async def fetch(self, secret: Secret) -> TokenGrant:
        return await self.ims.issue(self.caller)


@dataclass
class DirectReplication:
    """Replication between the simulated nodes: a push is a call, a stopped node refuses."""

    leaders: dict[str, ReplicationLeader] = field(default_factory=dict)
    followers: dict[str, ReplicaFollower] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    async def push(self, follower: str, blob: bytes) -> None:
        target = self.followers.get(follower)
        if target is None or follower in self.stopped:
            raise ReplicationError(f"{follower} unreachable")
        await target.receive(blob)

    async def pull(self, leader: str) -> bytes | None:
        source = self.leaders.get(leader)
        if source is None or leader in self.stopped:
            raise ReplicationError(f"{leader} unreachable")
        return source.current()


@dataclass
class MemoryStore:
    """The shared store of the simulation, in memory: the file store's semantics (a sealed
    blob; a lease with an owner and an expiry on the wall clock, free once expired) without
    its file locks, which a week of fifty nodes would spend minutes in. What goes in is what
    the real coordinator seals."""

    wall_clock: Callable[[], float]
    blob: bytes | None = None
    holder: tuple[str, float] | None = None

    async def get(self) -> bytes | None:
        return self.blob

    async def put(self, blob: bytes) -> None:
        self.blob = blob

    async def remove_if(self, blob: bytes) -> None:
        if self.blob == blob:
            self.blob = None

    async def try_lease(self, owner: str, ttl: float) -> bool:
        now = self.wall_clock()
        if self.holder is not None and self.holder[0] != owner and now < self.holder[1]:
            return False
        self.holder = (owner, now + ttl)
        return True

    async def release_lease(self, owner: str) -> None:
        if self.holder is not None and self.holder[0] == owner:
            self.holder = None

    async def close(self) -> None:
        return None
