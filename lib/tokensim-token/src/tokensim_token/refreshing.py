"""The refreshing token provider: one process's token, or a cluster's through a coordinator.

Per process: it keeps its own token, encrypted at rest, refreshed alone. Shared: one token for
a cluster in a store; the process that holds the store's lease refreshes it and the others
adopt it. The difference is the coordinator (:mod:`tokensim_token.coordination`); the rest is
one piece of code. One background refresher makes every token call (google-auth's "exactly
one background job"):

* It refreshes proactively at a jittered point of the lifetime (default half-life + up to
  10 %). Until the mandatory margin before expiry, requests use the current token and never
  wait on the token endpoint.
* With no usable token, requests wake the refresher and wait for the outcome of its one call:
  1000 concurrent requests cause one token call.
* Failures back off (capped exponential, full jitter, Retry-After as a floor) and the current
  token is used until it really expires. ``invalid_client`` moves to the next configured
  secret; when every secret is refused it is a configuration error: shown in ``status()``,
  logged once, retried every ``config_error_interval``.
* A 401 from the API drops the token only if it is still the current one.
* Every new token is saved sealed; on start a saved token with more than the margin left is
  reused without a token call. Before each call the coordinator is asked for a newer token
  (adopted without a call) and for the right to call (the shared store's lease).

Each job is a piece of its own: the token in use (:mod:`.current`), the callers waiting for
one call (:mod:`.single_flight`), the retry schedule (:mod:`.retries`), secret rotation
(:mod:`.rotation`) and the counters (:mod:`.stats`); this class only sequences them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from tokensim_token.backoff import Backoff
from tokensim_token.clock import Clock
from tokensim_token.coordination import Coordinator
from tokensim_token.current import CurrentToken
from tokensim_token.errors import ConfigurationError, RefreshError, TokenUnavailable
from tokensim_token.model import AccessToken, ProviderStatus, TokenState
from tokensim_token.policy import RefreshPolicy
from tokensim_token.provider import TokenFetcher
from tokensim_token.retries import RetrySchedule
from tokensim_token.rotation import SecretRotation
from tokensim_token.secrets import Secret
from tokensim_token.single_flight import SharedOutcome
from tokensim_token.stats import ProviderStats
from tokensim_token.store import SavedToken

logger = logging.getLogger(__name__)

# A call due within this many seconds is due now. Without it, a delay shorter than the
# clock's resolution would wake the refresher again and again without time moving on.
DUE_TOLERANCE = 0.001
# How soon a node with no usable token looks at its peers again while another node refreshes:
# its requests are waiting. At 1 s, a node starting under load made its requests wait a whole
# second for a token its peer had in 5 ms (``make bench``, stampede rows); one read of the
# store every 100 ms, only while requests wait, is nothing. (While none waits - a long IMS
# outage with the token expired - it looks every peer_poll, not 36,000 times an hour.)
PEER_POLL_WAITING = 0.1


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    policy: RefreshPolicy = field(default_factory=RefreshPolicy)
    backoff: Backoff = field(default_factory=Backoff)
    config_error_interval: float = 300.0
    wait_timeout: float = 10.0
    peer_poll: float = 1.0  # shared: how soon to look again while another node refreshes


class RefreshingTokenProvider:
    def __init__(
        self,
        *,
        fetcher: TokenFetcher,
        secrets: Sequence[Secret],
        settings: ProviderSettings,
        clock: Clock,
        rng: random.Random,
        coordinator: Coordinator,
    ) -> None:
        self._fetcher = fetcher
        self._secrets = SecretRotation(secrets)
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self._coordinator = coordinator
        self.strategy = coordinator.strategy
        self._current = CurrentToken(settings.policy, clock, rng)
        self._outcome = SharedOutcome()
        self._retries = RetrySchedule(settings.backoff, settings.config_error_interval)
        self._stats = ProviderStats()
        self._peer_looked_at: float | None = None  # when another node last held the claim
        self._refused_until = 0.0  # monotonic: the coordinator said no until then (no push)
        self._peer_changed = False  # the coordinator was told of a newer token
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        coordinator.on_change(self._notify_peer_change)

    # --- lifetime -----------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt a saved token if it is still good, then start the refresher."""
        saved = await self._coordinator.load()
        if saved is not None and self._adopt(saved):
            self._stats.restored_from_disk = True
        self._task = asyncio.create_task(self._refresher(), name="token-refresher")

    async def close(self) -> None:
        # The flag as well as the cancellation: code the refresher awaits (a store's client)
        # may swallow a CancelledError, and the loop must end all the same.
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._coordinator.close()
        self._outcome.close()

    # --- what callers use ---------------------------------------------------------------

    async def get(self) -> AccessToken:
        """A usable token. Waits only when the current one is inside its margin or gone."""
        token = self._current.token
        now = self._clock.monotonic()
        if token is not None and now < token.expires_at:
            if self._current.usable(now) is not None:
                return token
            return await self._get_expiring(token, now)
        return await self._get_new(now)

    def current(self) -> AccessToken | None:
        return self._current.usable(self._clock.monotonic())

    def invalidate(self, token: AccessToken) -> bool:
        """Drop ``token`` after the API refused it, unless a newer one already replaced it."""
        if not self._current.invalidate(token):
            return False
        self._refused_until = 0.0  # the coordinator's "not before" was for the token in use
        self._wake.set()
        return True

    def state(self) -> TokenState:
        return self._current.state(self._clock.monotonic())

    def status(self) -> ProviderStatus:
        now = self._clock.monotonic()
        return self._stats.status(
            self.strategy,
            self.state(),
            self._current.token,
            now,
            next_refresh_in=round(max(0.0, self._next_attempt_at() - now), 3),
            consecutive_failures=self._retries.failures,
            configuration_error=self._retries.config_error,
        )

    # --- waiting ------------------------------------------------------------------------

    async def _get_expiring(self, token: AccessToken, now: float) -> AccessToken:
        """Mandatory window: join the call in flight (bounded), else keep the current token."""
        if self._outcome.in_flight:
            timeout = min(self._settings.wait_timeout, token.expires_at - now)
            with contextlib.suppress(TokenUnavailable, TimeoutError):
                async with asyncio.timeout(timeout):
                    return await asyncio.shield(self._outcome.pending())
        current = self._current.token
        return current if current is not None else token

    async def _get_new(self, now: float) -> AccessToken:
        """No usable token: wake the refresher and wait for its next call's outcome."""
        backing_off_for = self._retries.backing_off_for(now)
        if backing_off_for > self._settings.wait_timeout:
            raise TokenUnavailable(
                f"no valid token; next token call in {backing_off_for:.0f}s "
                f"(last error: {self._stats.last_error})",
                cause=self._retries.last_error,
            )
        outcome = self._outcome.pending()
        self._wake.set()
        try:
            async with asyncio.timeout(self._settings.wait_timeout):
                return await asyncio.shield(outcome)
        except TimeoutError:
            raise TokenUnavailable("timed out waiting for a token call") from None

    # --- the refresher ------------------------------------------------------------------

    async def _refresher(self) -> None:
        # Waits use asyncio.timeout, not asyncio.wait_for: on Python 3.11, wait_for returns
        # the result when the event is set in the same loop turn as the task is cancelled,
        # and the cancellation is lost (python/cpython#86296); close() then waited for ever.
        while not self._closing:
            delay = self._next_attempt_at() - self._clock.monotonic()
            if delay > DUE_TOLERANCE:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            try:
                await self._attempt()
            except Exception as exc:  # the refresher must outlive any bug in a fetcher
                logger.exception("unexpected error in the token refresher")
                self._failed(RefreshError(f"unexpected {type(exc).__name__}"))
                self._outcome.fail(RefreshError("unexpected error"))

    def _notify_peer_change(self) -> None:
        """The coordinator has a newer token (a replication push): adopt it now."""
        self._peer_changed = True
        self._refused_until = 0.0
        self._wake.set()

    def _next_attempt_at(self) -> float:
        now = self._clock.monotonic()
        if self._peer_changed:
            return now
        peer_retry_at = self._peer_retry_at()
        if peer_retry_at > now:
            # Another node holds the claim: look again then, even after failures of our own
            # (their back-off lies in the past once ours has run out: without this, a node that
            # had failed and then lost the lease asked the store again and again at once).
            return peer_retry_at
        if self._retries.failures:
            return self._retries.retry_at
        if self._current.token is None:
            return now
        return self._current.refresh_at

    def _peer_retry_at(self) -> float:
        """When to look at the store again after finding another node's claim: peer_poll after
        that look, sooner while requests wait for a token (none, or expired), so they get the
        other node's token in time. Computed at each turn, not when the claim was refused: a
        request that starts waiting after the look brings the next one forward (a node that
        had just started looked with nobody waiting, and its first requests waited out the
        whole peer_poll for a token its peer published 0.16 s after that look). Not before the
        coordinator said its answer could change (a follower whose pushed token is still
        usable: until its margin), unless requests wait."""
        if self._peer_looked_at is None:
            return 0.0
        looked = self._peer_looked_at
        poll = self._settings.peer_poll
        if self._outcome.waited_for:
            return looked + min(poll, PEER_POLL_WAITING)
        at = looked + poll
        token = self._current.token
        if token is not None and looked < token.expires_at - PEER_POLL_WAITING < at:
            # One more look just before the token in use expires: with a margin shorter than
            # peer_poll, a token the peer published after our look was read only after ours
            # had expired (a partitioned node under load: invalid for 0.2 s of the partition).
            at = token.expires_at - PEER_POLL_WAITING
        return max(at, self._refused_until)

    async def _attempt(self) -> None:
        """Adopt a newer token from the coordinator, or claim the call and make it."""
        coordinator = self._coordinator
        if self._peer_changed:
            self._peer_changed = False
            await self._adopted()
            return  # only a notification; the loop decides whether a call is due
        rejected = self._current.take_rejected()
        if rejected is not None:
            await coordinator.discard(SavedToken(rejected.value, 0.0, rejected.lifetime))
        if await self._adopted():
            return
        if not await coordinator.claim():
            now = self._clock.monotonic()
            self._peer_looked_at = now  # another node is refreshing
            self._refused_until = now + coordinator.refusing_for()
            return
        # Look again now that the claim is ours: another node may have published a token and
        # released the lease between our load() and claim() (double-checked locking).
        if await self._adopted():
            await coordinator.release()
            return
        await self._call_token_endpoint()

    async def _adopted(self) -> bool:
        """Whether the coordinator had a newer token, now adopted (waiting callers get it)."""
        saved = await self._coordinator.load()
        if saved is None or not self._adopt(saved):
            return False
        token = self._current.token
        assert token is not None  # just adopted
        self._outcome.resolve(token)
        return True

    async def _call_token_endpoint(self) -> None:
        sent_at = self._clock.monotonic()
        sent_wall = self._clock.wall()
        self._outcome.in_flight = True
        self._stats.called()
        try:
            grant = await self._fetcher.fetch(self._secrets.current)
        except RefreshError as exc:
            if not self._failed(exc):
                await self._coordinator.release()
                self._outcome.fail(exc)
            return
        finally:
            self._outcome.in_flight = False
        self._stats.succeeded()
        self._retries.succeeded()
        self._secrets.accepted()
        token = self._current.accept(grant, sent_at, sent_wall)
        await self._coordinator.publish(SavedToken(grant.access_token, sent_wall, token.lifetime))
        self._outcome.resolve(token)

    def _failed(self, exc: RefreshError) -> bool:
        """Record a failed call; True when another secret should be tried right away."""
        self._stats.failed(exc)
        if self._secrets.try_next(exc):
            return True
        if isinstance(exc, ConfigurationError):
            self._secrets.exhausted()
        now = self._clock.monotonic()
        delay = self._retries.failed(exc, now, self._rng)
        if not isinstance(exc, ConfigurationError):
            self._log_failure(exc, delay, now)
        return False

    def _log_failure(self, exc: RefreshError, delay: float, now: float) -> None:
        token = self._current.token
        if token is not None and now < token.expires_at:
            logger.warning(
                "token refresh failed (%s); token %s still valid for %.0fs; retry in %.1fs",
                exc,
                token.fingerprint,
                token.remaining(now),
                delay,
            )
        else:
            logger.error("token call failed (%s) and no valid token; retry in %.1fs", exc, delay)

    def _adopt(self, saved: SavedToken) -> bool:
        if self._current.adopt(saved) is None:
            return False
        self._retries.failures = 0
        return True
