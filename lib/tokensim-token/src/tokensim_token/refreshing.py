"""The refreshing token provider behind the ``per-node`` and ``shared`` strategies.

Per node: each node keeps its own token, encrypted at rest, refreshed alone. Shared: one token
for the cluster in a store; the node that holds the store's lease refreshes it and the others
adopt it. The difference is the coordinator (:mod:`tokensim_token.coordination`); the rest is one
piece of code. One background refresher per node makes every token call (google-auth's
"exactly one background job"):

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
from tokensim_token.errors import ConfigurationError, InvalidClient, RefreshError, TokenUnavailable
from tokensim_token.model import AccessToken, ProviderStatus, TokenGrant, TokenState, fingerprint
from tokensim_token.policy import RefreshPolicy
from tokensim_token.provider import TokenFetcher
from tokensim_token.secrets import Secret
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
        if not secrets:
            raise ValueError("at least one client secret is needed")
        self._fetcher = fetcher
        self._secrets = tuple(secrets)
        self._settings = settings
        self._policy = settings.policy
        self._clock = clock
        self._rng = rng
        self._coordinator = coordinator
        self.strategy = coordinator.strategy
        self._token: AccessToken | None = None
        self._obtained_wall = float("-inf")
        self._rejected: AccessToken | None = None
        self._peer_retry_at = 0.0
        self._rejected_value: Secret | None = None
        self._refresh_at = 0.0
        self._retry_at = 0.0
        self._failures = 0
        self._secret_index = 0
        self._secrets_tried = 0
        self._in_flight = False
        self._outcome: asyncio.Future[AccessToken] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._token_calls = 0
        self._refresh_count = 0
        self._failed = 0
        self._last_error: str | None = None
        self._config_error: str | None = None
        self._restored = False
        self._peer_changed = False
        self._stale_value: Secret | None = None  # a stored token already found too old
        on_change = getattr(coordinator, "on_change", None)
        if on_change is not None:
            on_change(self._notify_peer_change)

    # --- lifetime -----------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt a saved token if it is still good, then start the refresher."""
        saved = await self._coordinator.load()
        if saved is not None and self._adopt(saved):
            self._restored = True
        self._task = asyncio.create_task(self._refresher(), name="token-refresher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._coordinator.close()
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_exception(TokenUnavailable("token provider closed"))

    # --- what callers use ---------------------------------------------------------------

    async def get(self) -> AccessToken:
        """A usable token. Waits only when the current one is inside its margin or gone."""
        token = self._token
        now = self._clock.monotonic()
        if token is not None and now < token.expires_at:
            if now < token.expires_at - self._policy.margin(token.lifetime):
                return token
            return await self._get_expiring(token, now)
        return await self._get_new(now)

    def current(self) -> AccessToken | None:
        token = self._token
        now = self._clock.monotonic()
        if token is not None and now < token.expires_at - self._policy.margin(token.lifetime):
            return token
        return None

    def invalidate(self, token: AccessToken) -> bool:
        """Drop ``token`` after the API refused it, unless a newer one already replaced it."""
        if self._token is None or self._token.value != token.value:
            return False
        logger.warning("token %s was refused by the API; getting a new one", token.fingerprint)
        self._token = None
        self._rejected = token
        self._wake.set()
        return True

    def state(self) -> TokenState:
        token = self._token
        now = self._clock.monotonic()
        if token is None or now >= token.expires_at:
            return TokenState.INVALID
        if now >= token.expires_at - self._policy.margin(token.lifetime):
            return TokenState.EXPIRING
        return TokenState.STALE if now >= self._refresh_at else TokenState.FRESH

    def status(self) -> ProviderStatus:
        token = self._token
        now = self._clock.monotonic()
        usable = token is not None and now < token.expires_at
        return ProviderStatus(
            strategy=self.strategy,
            state=self.state(),
            fingerprint=token.fingerprint if token is not None else None,
            seconds_left=round(token.remaining(now), 3) if token is not None and usable else None,
            next_refresh_in=round(max(0.0, self._next_attempt_at() - now), 3),
            token_calls=self._token_calls,
            refresh_count=self._refresh_count,
            failed_refreshes=self._failed,
            consecutive_failures=self._failures,
            last_refresh_error=self._last_error,
            configuration_error=self._config_error,
            restored_from_disk=self._restored,
            age_seconds=round(now - token.obtained_at, 3) if token is not None and usable else None,
        )

    # --- waiting ------------------------------------------------------------------------

    async def _get_expiring(self, token: AccessToken, now: float) -> AccessToken:
        """Mandatory window: join the call in flight (bounded), else keep the current token."""
        if self._in_flight:
            timeout = min(self._settings.wait_timeout, token.expires_at - now)
            with contextlib.suppress(TokenUnavailable, TimeoutError):
                return await asyncio.wait_for(asyncio.shield(self._pending_outcome()), timeout)
        current = self._token
        return current if current is not None else token

    async def _get_new(self, now: float) -> AccessToken:
        """No usable token: wake the refresher and wait for its next call's outcome."""
        backing_off_for = self._retry_at - now if self._failures else 0.0
        if backing_off_for > self._settings.wait_timeout:
            raise TokenUnavailable(
                f"no valid token; next token call in {backing_off_for:.0f}s "
                f"(last error: {self._last_error})"
            )
        outcome = self._pending_outcome()
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(outcome), self._settings.wait_timeout)
        except TimeoutError:
            raise TokenUnavailable("timed out waiting for a token call") from None

    def _pending_outcome(self) -> asyncio.Future[AccessToken]:
        """The outcome of the token call in flight, or of the next one."""
        if self._outcome is None:
            self._outcome = asyncio.get_running_loop().create_future()
            self._outcome.add_done_callback(_retrieve)
        return self._outcome

    def _resolve(self, token: AccessToken | None, error: RefreshError | None = None) -> None:
        outcome, self._outcome = self._outcome, None
        if outcome is None or outcome.done():
            return
        if token is not None:
            outcome.set_result(token)
        else:
            outcome.set_exception(TokenUnavailable(f"token call failed: {error}"))

    # --- the refresher ------------------------------------------------------------------

    async def _refresher(self) -> None:
        while True:
            delay = self._next_attempt_at() - self._clock.monotonic()
            if delay > DUE_TOLERANCE:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            try:
                await self._attempt()
            except Exception as exc:  # the refresher must outlive any bug in a fetcher
                logger.exception("unexpected error in the token refresher")
                self._failed_try_next_secret(RefreshError(f"unexpected {type(exc).__name__}"))
                self._resolve(None, RefreshError("unexpected error"))

    def _notify_peer_change(self) -> None:
        """The coordinator has a newer token (a replication push): adopt it now."""
        self._peer_changed = True
        self._wake.set()

    def _next_attempt_at(self) -> float:
        now = self._clock.monotonic()
        if self._peer_changed:
            return now
        if self._peer_retry_at > now:
            # Another node holds the claim: look again then, even after failures of our own
            # (their back-off lies in the past once ours has run out: without this, a node that
            # had failed and then lost the lease asked the store again and again at once).
            return self._peer_retry_at
        if self._failures:
            return self._retry_at
        if self._token is None:
            return now
        return self._refresh_at

    async def _attempt(self) -> None:
        """Adopt a newer token from the coordinator, or claim the call and make it."""
        if self._peer_changed:
            self._peer_changed = False
            saved = await self._coordinator.load()
            if saved is not None and self._adopt(saved):
                self._resolve(self._token)
            return  # only a notification; the loop decides whether a call is due
        if self._rejected is not None:
            rejected, self._rejected = self._rejected, None
            await self._coordinator.discard(SavedToken(rejected.value, 0.0, rejected.lifetime))
            self._rejected_value = rejected.value
        saved = await self._coordinator.load()
        if saved is not None and self._adopt(saved):
            self._resolve(self._token)
            return
        if not await self._coordinator.claim():
            # Another node is refreshing. Look again in peer_poll; sooner while requests wait
            # for a token (none, or expired), so they get the other node's token in time.
            now = self._clock.monotonic()
            poll = self._settings.peer_poll
            if self._outcome is not None and not self._outcome.done():  # requests are waiting
                poll = min(poll, PEER_POLL_WAITING)
            self._peer_retry_at = now + poll
            return
        # Look again now that the claim is ours: another node may have published a token and
        # released the lease between our load() and claim() (double-checked locking).
        saved = await self._coordinator.load()
        if saved is not None and self._adopt(saved):
            await self._coordinator.release()
            self._resolve(self._token)
            return
        await self._call_token_endpoint()

    async def _call_token_endpoint(self) -> None:
        secret = self._secrets[self._secret_index]
        sent_at = self._clock.monotonic()
        sent_wall = self._clock.wall()
        self._in_flight = True
        self._token_calls += 1
        try:
            grant = await self._fetcher.fetch(secret)
        except RefreshError as exc:
            retry_now = self._failed_try_next_secret(exc)
            if not retry_now:
                await self._coordinator.release()
                self._resolve(None, exc)
            return
        finally:
            self._in_flight = False
        token = self._accept(grant, sent_at, sent_wall)
        await self._coordinator.publish(SavedToken(grant.access_token, sent_wall, token.lifetime))
        self._resolve(token)

    def _accept(self, grant: TokenGrant, sent_at: float, sent_wall: float) -> AccessToken:
        lifetime = float(grant.expires_in)
        token = AccessToken(grant.access_token, obtained_at=sent_at, expires_at=sent_at + lifetime)
        self._install(token)
        self._obtained_wall = sent_wall
        self._refresh_count += 1
        if self._config_error is not None:
            logger.info("token endpoint accepts the credentials again")
        self._failures = self._secrets_tried = 0
        self._config_error = None
        logger.info(
            "new token %s, lifetime %.0fs, next refresh in %.0fs",
            token.fingerprint,
            lifetime,
            self._refresh_at - sent_at,
        )
        return token

    def _install(self, token: AccessToken) -> None:
        self._token = token
        self._refresh_at = token.obtained_at + self._policy.refresh_delay(token.lifetime, self._rng)

    def _failed_try_next_secret(self, exc: RefreshError) -> bool:
        """Record a failed call; True when another secret should be tried right away."""
        self._failed += 1
        self._last_error = str(exc)
        if isinstance(exc, InvalidClient) and self._secrets_tried < len(self._secrets) - 1:
            refused = self._secret_index
            self._secrets_tried += 1
            self._secret_index = (refused + 1) % len(self._secrets)
            logger.warning(
                "client secret #%d refused (%s); trying secret #%d",
                refused + 1,
                exc.code or "invalid_client",
                self._secret_index + 1,
            )
            return True
        self._failures += 1
        now = self._clock.monotonic()
        if isinstance(exc, ConfigurationError):
            self._secrets_tried = 0
            delay = self._settings.config_error_interval
            if self._config_error is None:
                logger.error("%s; next try in %.0fs (a configuration error)", exc, delay)
            self._config_error = str(exc)
        else:
            delay = self._settings.backoff.delay(
                self._failures, self._rng, retry_after=exc.retry_after
            )
            self._log_failure(exc, delay, now)
        self._retry_at = now + delay
        return False

    def _log_failure(self, exc: RefreshError, delay: float, now: float) -> None:
        token = self._token
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
        """Use a token obtained elsewhere (before a restart, or by another node) if it is not
        older than ours, not ours, not the one just refused, and has more than the margin left.
        (Not older rather than newer: two tokens may be obtained within the same clock tick.)"""
        current = self._token
        if (
            saved.obtained_wall < self._obtained_wall
            or (current is not None and saved.value == current.value)
            or saved.value == self._rejected_value
        ):
            return False  # older, the one in use, or the one just refused
        now = self._clock.monotonic()
        elapsed = max(0.0, self._clock.wall() - saved.obtained_wall)
        remaining = saved.lifetime - elapsed
        margin = self._policy.margin(saved.lifetime)
        if remaining <= margin:
            if saved.value != self._stale_value:  # one line per token, however often it is read
                self._stale_value = saved.value
                logger.info(
                    "stored token %s is %s, inside the margin; not used",
                    fingerprint(saved.value),
                    f"expired {-remaining:.0f}s ago"
                    if remaining < 0
                    else f"{remaining:.0f}s from expiry",
                )
            return False
        token = AccessToken(saved.value, obtained_at=now - elapsed, expires_at=now + remaining)
        self._install(token)
        self._obtained_wall = saved.obtained_wall
        self._failures = 0
        if self._refresh_at < now:
            # Its refresh was due while this node was down: spread it over the first half of
            # what is left before the margin, so restarted nodes do not all call at once.
            self._refresh_at = now + self._rng.uniform(0.0, (remaining - margin) / 2)
        logger.info(
            "using stored token %s (%.0fs left); no token call", token.fingerprint, remaining
        )
        return True


def _retrieve(future: asyncio.Future[AccessToken]) -> None:
    """Mark a failed outcome as seen even when every waiter has timed out."""
    if not future.cancelled():
        future.exception()
