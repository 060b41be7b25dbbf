"""The outside world of the virtual-time simulation, in process: IMS, Analytics, and the
links between nodes for replication.

The simulated HTTP services (:mod:`upstream`) are the reference for behaviour; these are their
in-process twins, so that a week of a cluster runs in seconds: IMS issues opaque tokens with
``expires_in`` and can be down or flaky; Analytics accepts a token only before its expiry and
if it was not revoked; both take a (virtual) latency. Nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import secrets as random_tokens
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from core.clock import Clock
from core.secrets import Secret
from node.analytics_client import PageVisits
from node.errors import AnalyticsUnauthorized, AnalyticsUnavailable
from node.token import AccessToken, ImsUnavailable, TokenGrant
from node.token.errors import ReplicationError
from node.token.replication import ReplicaFollower, ReplicationLeader

PAGES = tuple(
    PageVisits(page=f"/content/site/en/page-{i}.html", visits=float(10_000 // i))
    for i in range(1, 11)
)


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

    def accepts(self, value: str) -> bool:
        expiry = self._expiry.get(value)
        if expiry is None or self.clock.wall() >= expiry:
            return False
        return self._issued_at[value] > self._revoked_before

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
class VirtualAnalytics:
    ims: VirtualIms
    latency: float
    outage: bool = False
    unauthorized_by_caller: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def source(self, caller: str) -> AnalyticsSource:
        return AnalyticsSource(self, caller)


@dataclass(frozen=True, slots=True)
class AnalyticsSource:
    """A node's TopPagesSource: the in-process Analytics, called as ``caller``."""

    analytics: VirtualAnalytics
    caller: str

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]:
        service = self.analytics
        service.requests += 1
        await asyncio.sleep(service.latency)
        if service.outage:
            raise AnalyticsUnavailable("Analytics answered 503 (simulated fault)")
        if not service.ims.accepts(token.value.reveal()):
            service.unauthorized_by_caller[self.caller] += 1
            raise AnalyticsUnauthorized("Analytics refused the token (401)")
        return PAGES


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
