"""The ``scheduled`` strategy: a job refreshes the token every N hours and pushes it to all.

What people build when they think of the token as configuration: one leader runs a scheduled
job ("every 12 h") that calls the token endpoint and publishes the token to a shared store;
every node, the leader included, uses whatever token was published last. Nobody looks at the
token's lifetime, so nobody refreshes on demand: when the interval is longer than the lifetime
the cluster keeps sending an expired token and Analytics answers 401 until the next run. That
failure is the point of modelling the design faithfully: it must show, not be hidden.

A failed run is retried with backoff (a scheduler with retries), then waits for the next slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

from tokensim_token.backoff import Backoff
from tokensim_token.clock import Clock
from tokensim_token.coordination import SharedToken
from tokensim_token.errors import RefreshError, TokenUnavailable
from tokensim_token.model import AccessToken, ProviderStatus, TokenState, valid_or_invalid
from tokensim_token.provider import TokenFetcher
from tokensim_token.refreshing import DUE_TOLERANCE
from tokensim_token.secrets import Secret
from tokensim_token.stats import ProviderStats
from tokensim_token.store import SavedToken

logger = logging.getLogger(__name__)


class ScheduledTokenProvider:
    strategy = "scheduled"

    def __init__(
        self,
        *,
        fetcher: TokenFetcher,
        secrets: Sequence[Secret],
        store: SharedToken,
        clock: Clock,
        rng: random.Random,
        leader: bool,
        interval: float,
        poll: float,
        wait_timeout: float,
        backoff: Backoff,
    ) -> None:
        if interval <= 0 or poll <= 0:
            raise ValueError("interval and poll must be positive")
        self._fetcher = fetcher
        self._secret = secrets[0]
        self._store = store
        self._clock = clock
        self._rng = rng
        self._leader = leader
        self._interval = interval
        self._poll = poll
        self._wait_timeout = wait_timeout
        self._backoff = backoff
        self._token: AccessToken | None = None
        self._obtained_wall = float("-inf")
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stats = ProviderStats()
        self._failures = 0  # in a row
        self._refused = 0
        self._next_run: float | None = None

    async def start(self) -> None:
        self._stats.restored_from_disk = await self._adopt_published()
        self._task = asyncio.create_task(self._run(), name="token-schedule")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._store.close()

    async def get(self) -> AccessToken:
        """The last published token, however old: the design does not look at lifetimes."""
        if self._token is None and not self._leader:
            # No token yet (a cold start): look at the store every second while waiting rather
            # than at the next poll, which may be a minute away.
            deadline = self._clock.monotonic() + self._wait_timeout
            while self._token is None and not await self._adopt_published():
                left = deadline - self._clock.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(1.0, left))
        elif self._token is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait_timeout):  # not wait_for: cpython#86296
                    await self._arrived.wait()
        if self._token is None:
            raise TokenUnavailable("no token has been published yet")
        return self._token

    def current(self) -> AccessToken | None:
        return self._token  # the last published token, however old: the design's flaw

    def invalidate(self, token: AccessToken) -> bool:
        """A 401 changes nothing here: the next token comes with the next scheduled run."""
        if self._token is not None and self._token.value == token.value:
            self._refused += 1
            if self._refused == 1 or self._refused % 100 == 0:
                logger.warning(
                    "token %s refused by the API (%d times); the scheduled job runs again in %.0fs",
                    token.fingerprint,
                    self._refused,
                    self._seconds_to_next_run(),
                )
        return False

    def state(self) -> TokenState:
        return valid_or_invalid(self._token, self._clock.monotonic())

    def status(self) -> ProviderStatus:
        return self._stats.status(
            self.strategy,
            self.state(),
            self._token,
            self._clock.monotonic(),
            next_refresh_in=round(self._seconds_to_next_run(), 3) if self._leader else None,
            consecutive_failures=self._failures,
        )

    # --- the job ------------------------------------------------------------------------

    def _seconds_to_next_run(self) -> float:
        if self._next_run is None:
            return 0.0
        return max(0.0, self._next_run - self._clock.monotonic())

    async def _run(self) -> None:
        while True:
            try:
                if self._leader:
                    await self._leader_step()
                else:
                    await self._adopt_published()
                    await asyncio.sleep(self._poll)
            except asyncio.CancelledError:
                raise
            except Exception:  # the job must outlive any bug in a fetcher or store
                logger.exception("unexpected error in the scheduled token job")
                await asyncio.sleep(self._poll)

    async def _leader_step(self) -> None:
        """Run the job when its slot comes (or at once if the last published token is older
        than the interval), then sleep until the next slot or retry."""
        now = self._clock.monotonic()
        if self._next_run is None:
            age = self._clock.wall() - self._obtained_wall
            self._next_run = now + max(0.0, self._interval - age)
        if self._next_run - now > DUE_TOLERANCE:
            await asyncio.sleep(self._next_run - now)
            return
        sent_at, sent_wall = self._clock.monotonic(), self._clock.wall()
        self._stats.called()
        try:
            grant = await self._fetcher.fetch(self._secret)
        except RefreshError as exc:
            self._stats.failed(exc)
            self._failures += 1
            delay = self._backoff.delay(self._failures, self._rng, retry_after=exc.retry_after)
            logger.warning("scheduled token run failed (%s); retry in %.1fs", exc, delay)
            self._next_run = self._clock.monotonic() + delay
            return
        self._stats.succeeded()
        self._failures = 0
        self._next_run = sent_at + self._interval
        saved = SavedToken(grant.access_token, sent_wall, float(grant.expires_in))
        await self._store.publish(saved)
        self._install(saved)
        logger.info(
            "scheduled run got token %s (lifetime %ds); next run in %.0fs",
            self._token.fingerprint if self._token else "-",
            grant.expires_in,
            self._interval,
        )

    async def _adopt_published(self) -> bool:
        saved = await self._store.load()
        if saved is None or saved.obtained_wall <= self._obtained_wall:
            return False
        self._install(saved)
        return True

    def _install(self, saved: SavedToken) -> None:
        now = self._clock.monotonic()
        obtained = now - max(0.0, self._clock.wall() - saved.obtained_wall)
        self._token = AccessToken(saved.value, obtained, obtained + saved.lifetime)
        self._obtained_wall = saved.obtained_wall
        self._arrived.set()
