"""An aiohttp client middleware that authorises requests with the cache's token.

``ClientSession(middlewares=(BearerAuth(tokens),))``: every request gets ``Authorization:
Bearer <token>``; a reply whose status is in ``refresh_statuses`` (default 401) drops that
token (only that one: ten requests refused at once cause one token call), gets a new one and
sends the request again, at most ``max_refresh_attempts`` times (default once). The reply of
the last attempt is returned whatever its status. (google-auth's ``AuthorizedSession`` does
the same with ``refresh_status_codes`` and ``max_refresh_attempts``.)

The token endpoint's own call never goes through it (the client sends it with
``middlewares=()``), so a session can be shared by both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs

from tokensim_token.errors import SettingsError
from tokensim_token.model import AccessToken


class Tokens(Protocol):
    """What the middleware needs: a token, and a way to say it was refused."""

    async def get(self) -> AccessToken: ...

    def invalidate(self, token: AccessToken) -> bool: ...


class BearerAuth:
    def __init__(
        self,
        tokens: Tokens,
        *,
        refresh_statuses: Iterable[int] = (401,),
        max_refresh_attempts: int = 1,
    ) -> None:
        statuses = frozenset(refresh_statuses)
        if not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses):
            raise SettingsError(f"refresh_statuses: HTTP error statuses, got {sorted(statuses)}")
        if isinstance(max_refresh_attempts, bool) or not 0 <= max_refresh_attempts <= 5:
            raise SettingsError(f"max_refresh_attempts: 0 to 5, got {max_refresh_attempts!r}")
        self._tokens = tokens
        self._statuses = statuses
        self._attempts = max_refresh_attempts

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        token = await self._tokens.get()
        for attempt in range(self._attempts + 1):
            request.headers[hdrs.AUTHORIZATION] = token.authorization()
            response = await handler(request)
            if response.status not in self._statuses or attempt == self._attempts:
                return response
            response.release()
            self._tokens.invalidate(token)
            token = await self._tokens.get()
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover
