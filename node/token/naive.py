"""The ``naive`` strategy: what people write first. The baseline that shows what goes wrong.

Fetch when there is no token or it has expired; no proactive refresh, no single-flight, no
backoff, no persistence. Every request that finds the token expired calls the token endpoint
itself (the stampede), and the token is used to its last second (the 401 cliff when clocks or
latency disagree).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tokensim_token.clock import Clock
from tokensim_token.errors import RefreshError, TokenUnavailable
from tokensim_token.model import AccessToken, ProviderStatus, TokenState, describe, valid_or_invalid
from tokensim_token.provider import TokenFetcher
from tokensim_token.secrets import Secret

logger = logging.getLogger(__name__)


class NaiveTokenProvider:
    strategy = "naive"

    def __init__(self, *, fetcher: TokenFetcher, secrets: Sequence[Secret], clock: Clock) -> None:
        self._fetcher = fetcher
        self._secret = secrets[0]
        self._clock = clock
        self._token: AccessToken | None = None
        self._calls = 0
        self._ok = 0
        self._failed = 0
        self._last_error: str | None = None

    async def start(self) -> None:
        """Fetch once at start, as such code usually does; a failure only shows in status."""
        try:
            await self.get()
        except TokenUnavailable as exc:
            logger.warning("no token at start: %s", exc)

    async def close(self) -> None:
        return None

    async def get(self) -> AccessToken:
        token = self._token
        if token is not None and self._clock.monotonic() < token.expires_at:
            return token
        sent_at = self._clock.monotonic()
        self._calls += 1
        try:
            grant = await self._fetcher.fetch(self._secret)
        except RefreshError as exc:
            self._failed += 1
            self._last_error = str(exc)
            raise TokenUnavailable(f"token call failed: {exc}") from None
        self._ok += 1
        self._token = AccessToken(grant.access_token, sent_at, sent_at + grant.expires_in)
        return self._token

    def current(self) -> AccessToken | None:
        token = self._token
        return token if token is not None and self._clock.monotonic() < token.expires_at else None

    def invalidate(self, token: AccessToken) -> bool:
        if self._token is not None and self._token.value == token.value:
            self._token = None
            return True
        return False

    def state(self) -> TokenState:
        return valid_or_invalid(self._token, self._clock.monotonic())

    def status(self) -> ProviderStatus:
        fingerprint, seconds_left, age = describe(self._token, self._clock.monotonic())
        return ProviderStatus(
            strategy=self.strategy,
            state=self.state(),
            fingerprint=fingerprint,
            seconds_left=seconds_left,
            age_seconds=age,
            next_refresh_in=None,
            token_calls=self._calls,
            refresh_count=self._ok,
            failed_refreshes=self._failed,
            consecutive_failures=0,
            last_refresh_error=self._last_error,
            configuration_error=None,
            restored_from_disk=False,
        )
