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
from collections.abc import Sequence

from tokensim_token.clock import Clock
from tokensim_token.model import AccessToken
from tokensim_token.provider import TokenFetcher
from tokensim_token.secrets import Secret

from node.token.naive import NaiveTokenProvider


class OnExpiryTokenProvider(NaiveTokenProvider):
    """A token in memory, fetched when there is none or it has expired, one call at a time:
    the naive provider with single-flight."""

    strategy = "on-expiry"

    def __init__(self, *, fetcher: TokenFetcher, secrets: Sequence[Secret], clock: Clock) -> None:
        super().__init__(fetcher=fetcher, secrets=secrets, clock=clock)
        self._call: asyncio.Future[AccessToken] | None = None  # the call in flight, shared

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
