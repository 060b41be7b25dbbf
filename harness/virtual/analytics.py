"""Analytics of the virtual world, in process: Adobe's rate limit, the report's latency and
the token check, for one call at a time at the instant the caller says.

The simulated HTTP service (:mod:`upstream.analytics`) is the reference for behaviour; this is
its in-process twin, so that a week of fifty nodes runs in seconds. It refuses a token after
its expiry or a revocation (401), applies Adobe's rate limit with the same rule as the
simulated service (12 per 6 s per client, 429), and can be down (503); it counts calls per
minute. Whether a token is good is IMS's to say: the caller passes the wall time until which
IMS accepts it (:meth:`harness.virtual.world.VirtualIms.accepted_until`).

This is the reference engine's; :mod:`harness.virtual._traffic` is the same in C.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import Counter
from dataclasses import dataclass

from core.topology import LatencyConfig, RateLimitConfig
from upstream.analytics.latency import LatencyModel

# A call's outcome (small numbers: the C engine's too); their names in results and traces.
OK, UNAUTHORIZED, THROTTLED, UNAVAILABLE = 0, 1, 2, 3
OUTCOMES = ("ok", "unauthorized", "throttled", "unavailable")


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
    up: a call slower than the caller's timeout is ``UNAVAILABLE`` at that timeout)."""

    outcome: int
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
        rate_limit: RateLimitConfig,
        latency: LatencyConfig,
        *,
        wall_start: float,
        timeout: float,
        rng: random.Random,
    ) -> None:
        self._wall_start = wall_start
        self._limiter = SlidingWindow(rate_limit)
        self._latency = LatencyModel(latency, rng)
        self._timeout = timeout
        self._gateway = latency.gateway_timeout
        # A call slower than the gateway or the caller: given up on at the first of the two.
        self._timed_out = Answer(UNAVAILABLE, min(timeout, self._gateway))
        self._ends: list[float] = []  # when each call in flight ends (a heap)
        self.outage = False
        self.by_outcome = [0, 0, 0, 0]  # calls, by outcome
        self.per_minute: Counter[int] = Counter()  # calls Analytics answered, per minute

    def call(self, accepted_until: float, at: float) -> Answer:
        """The answer to a report call at ``at`` with a token IMS accepts until the wall time
        ``accepted_until``: ok, unauthorized (401), throttled (429) or unavailable (503, a
        gateway timeout, or slower than the caller waits)."""
        answer = self._answer(accepted_until, at)
        if answer.outcome != UNAVAILABLE or answer.seconds:  # it reached Analytics
            self.per_minute[int(at // 60)] += 1
        self.by_outcome[answer.outcome] += 1
        return answer

    def _answer(self, accepted_until: float, at: float) -> Answer:
        if self.outage:
            return DOWN
        if not self._limiter.allow(at):  # every node calls as the same OAuth client
            return REFUSED
        if not self._wall_start + at < accepted_until:
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
