"""The ``on-expiry`` strategy: AEM's own Adobe IMS integration, as Adobe documents it.

AEM ships a per-instance token provider (Tools > Security > Adobe IMS Configurations; the
``com.adobe.granite.auth.oauth.AccessTokenProvider`` service): each instance asks IMS for a
token with its own credentials, keeps it in memory and reuses it until it expires. Nothing
is written to disk, so a restarted or new instance fetches anew, and nothing is refreshed
ahead of expiry. What the documentation does not say is whether concurrent callers share one
call when the token has run out. This module is the reading where they do (one call at a
time, the others wait for it); the reading where they do not is the ``naive`` strategy (every
caller on its own). The comparison runs both and ``docs/strategies.md`` says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tokensim_token.clock import Clock
from tokensim_token.errors import RefreshError, TokenUnavailable
from tokensim_token.model import AccessToken, ProviderStatus, TokenState, valid_or_invalid
from tokensim_token.provider import TokenFetcher
from tokensim_token.secrets import Secret
from tokensim_token.stats import ProviderStats

logger = logging.getLogger(__name__)


class OnExpiryTokenProvider:
    """A token in memory, fetched when there is none or it has expired, one call at a time."""

    strategy = "on-expiry"

    def __init__(self, *, fetcher: TokenFetcher, secrets: Sequence[Secret], clock: Clock) -> None:
        self._fetcher = fetcher
        self._secret = secrets[0]
        self._clock = clock
        self._token: AccessToken | None = None
        self._call: asyncio.Future[AccessToken] | None = None  # the call in flight, shared
        self._stats = ProviderStats()

    async def start(self) -> None:
        """AEM asks on first use; a node here asks at start, so its first page does not wait."""
        try:
            await self.get()
        except TokenUnavailable as exc:
            logger.warning("no token at start: %s", exc)

    async def close(self) -> None:
        call = self._call
        if call is not None and not call.done():
            call.cancel()

    async def get(self) -> AccessToken:
        token = self.current()
        if token is not None:
            return token
        if self._call is None or self._call.done():
            self._call = asyncio.ensure_future(self._fetch())
        return await asyncio.shield(self._call)

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
