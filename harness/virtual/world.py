"""The outside world of the virtual-time simulation, in process: IMS, Analytics, and the links
between nodes (token replication, the shared report store).

The simulated HTTP services (:mod:`upstream`) are the reference for behaviour; these are their
in-process twins, so that a week of fifty nodes runs in seconds. IMS issues opaque tokens with
``expires_in`` and can be down or flaky, taking a (virtual) latency. Analytics is called
synchronously at a given instant: it refuses a token after its expiry or a revocation (401),
applies Adobe's rate limit with the same limiter as the simulated service (12 per 6 s per
client, 429), and can be down (503); it counts calls per minute.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import random
import secrets as random_tokens
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tokensim_token import AccessToken, ImsUnavailable, TokenGrant
from tokensim_token.clock import Clock
from tokensim_token.errors import ReplicationError
from tokensim_token.secrets import Secret

from core.topology import LatencyConfig, RateLimitConfig
from node.token.replication import ReplicaFollower, ReplicationLeader
from upstream.analytics.latency import LatencyModel


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

    def accepts(self, value: str, wall: float) -> bool:
        """Whether Analytics would take ``value`` at wall time ``wall``."""
        expiry = self._expiry.get(value)
        if expiry is None or wall >= expiry:
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


OK, UNAUTHORIZED, THROTTLED, UNAVAILABLE = "ok", "unauthorized", "throttled", "unavailable"


class SlidingWindow:
    """Analytics' rate limit (:class:`upstream.analytics.rate_limit.RateLimiter`'s rule: a call
    is refused when ``requests`` were allowed in the ``per`` seconds before it) for calls that
    arrive out of time order: the driver handles a window's events ahead of the loop's clock,
    and a node that waited for a token calls at an instant before some already handled. The
    allowed instants are kept sorted, so a call is judged by the calls before it in time, not
    by those handled before it."""

    def __init__(self, config: RateLimitConfig) -> None:
        self._config = config
        self._allowed: list[float] = []

    def allow(self, at: float) -> bool:
        config = self._config
        if not config.enabled:
            return True
        allowed = self._allowed
        if allowed and allowed[0] < at - 200 * config.per:  # bounded memory: calls arrive at
            del allowed[: bisect.bisect_left(allowed, at - 100 * config.per)]  # most minutes late
        before = bisect.bisect_right(allowed, at) - bisect.bisect_right(allowed, at - config.per)
        if before >= config.requests:
            return False
        bisect.insort(allowed, at)
        return True


@dataclass(frozen=True, slots=True)
class Answer:
    """Analytics' answer to one call, and how long after the call the caller had it (or gave
    up: a call slower than the caller's timeout is ``unavailable`` at that timeout)."""

    outcome: str
    seconds: float


# The answers that come at once, made once (an answer is frozen; a week makes millions).
DOWN, REFUSED, NOT_AUTHORIZED = (
    Answer(UNAVAILABLE, 0.0),
    Answer(THROTTLED, 0.0),
    Answer(UNAUTHORIZED, 0.0),
)


class VirtualAnalytics:
    """One Analytics call at a time, at the instant the caller says (seconds since the start):
    the gateway's checks first (outage, rate limit, token), then the report's latency from the
    simulated service's own model (:mod:`upstream.analytics.latency`), slower with every call
    in flight, cut by the gateway's timeout and by the caller's own."""

    def __init__(
        self,
        ims: VirtualIms,
        rate_limit: RateLimitConfig,
        latency: LatencyConfig,
        *,
        wall_start: float,
        timeout: float,
        rng: random.Random,
    ) -> None:
        self._ims = ims
        self._wall_start = wall_start
        self._limiter = SlidingWindow(rate_limit)
        self._latency = LatencyModel(latency, rng)
        self._timeout = timeout
        self._gateway = latency.gateway_timeout
        # A call slower than the gateway or the caller: given up on at the first of the two.
        self._timed_out = Answer(UNAVAILABLE, min(timeout, self._gateway))
        self._ends: list[float] = []  # when each call in flight ends (a heap)
        self.outage = False
        self.by_outcome: Counter[str] = Counter()
        self.unauthorized_by_caller: Counter[str] = Counter()
        self.per_minute: Counter[int] = Counter()  # calls Analytics answered, per minute

    def call(self, caller: str, token: AccessToken, at: float) -> Answer:
        """The answer to ``caller``'s report call at ``at``: ok, unauthorized (401), throttled
        (429) or unavailable (503, a gateway timeout, or slower than the caller waits)."""
        answer = self._answer(token, at)
        if answer.outcome != UNAVAILABLE or answer.seconds:  # it reached Analytics
            self.per_minute[int(at // 60)] += 1
        self.by_outcome[answer.outcome] += 1
        if answer.outcome == UNAUTHORIZED:
            self.unauthorized_by_caller[caller] += 1
        return answer

    def _answer(self, token: AccessToken, at: float) -> Answer:
        if self.outage:
            return DOWN
        if not self._limiter.allow(at):  # every node calls as the same OAuth client
            return REFUSED
        if not self._ims.accepts(token.value.reveal(), self._wall_start + at):
            return NOT_AUTHORIZED
        ends = self._ends
        while ends and ends[0] <= at:
            heapq.heappop(ends)
        seconds = self._latency.draw(len(ends))
        gateway = self._gateway
        heapq.heappush(ends, at + (seconds if seconds < gateway else gateway))
        if seconds >= gateway or seconds > self._timeout:  # (the model's times_out, inline)
            return self._timed_out
        return Answer(OK, seconds)

    @property
    def calls(self) -> int:
        return sum(self.by_outcome.values())


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
