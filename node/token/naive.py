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
from tokensim_token.model import AccessToken, ProviderStatus, TokenState, valid_or_invalid
from tokensim_token.provider import TokenFetcher
from tokensim_token.secrets import Secret
from tokensim_token.stats import ProviderStats

logger = logging.getLogger(__name__)


class NaiveTokenProvider:
    strategy = "naive"

    def __init__(self, *, fetcher: TokenFetcher, secrets: Sequence[Secret], clock: Clock) -> None:
        self._fetcher = fetcher
        self._secret = secrets[0]
        self._clock = clock
        self._token: AccessToken | None = None
        self._stats = ProviderStats()

    async def start(self) -> None:
        """Fetch once at start, as such code usually does; a failure only shows in status."""
        try:
            await self.get()
        except TokenUnavailable as exc:
            logger.warning("no token at start: %s", exc)

    async def close(self) -> None:
        return None

    async def get(self) -> AccessToken:
        token = self.current()
        if token is not None:
            return token
        return await self._fetch()  # every caller that found none makes its own call

    async def _fetch(self) -> AccessToken:
        sent_at = self._clock.monotonic()
        self._stats.called()
        try:
            grant = await self._fetcher.fetch(self._secret)
        except RefreshError as exc:
            self._stats.failed(exc)
            raise TokenUnavailable(f"token call failed: {exc}", cause=exc) from exc
        self._stats.succeeded()
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
        return self._stats.status(self.strategy, self.state(), self._token, self._clock.monotonic())
