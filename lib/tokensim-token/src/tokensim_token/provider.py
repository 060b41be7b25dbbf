"""The one interface every token strategy implements (google-auth ``Credentials``-like)."""

from __future__ import annotations

from typing import Protocol

from tokensim_token.model import AccessToken, ProviderStatus, TokenGrant, TokenState
from tokensim_token.secrets import Secret


class TokenFetcher(Protocol):
    """Gets a new token from the token endpoint with one client secret."""

    async def fetch(self, secret: Secret) -> TokenGrant: ...


class TokenProvider(Protocol):
    """Keeps a token usable for the node's calls to Analytics.

    ``get()`` returns an immutable snapshot; callers never see half of a refresh. A caller
    whose call was refused with 401 passes the snapshot it used to ``invalidate()``; only
    that token is dropped, so ten callers failing at once cause one new token call.
    """

    strategy: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self) -> AccessToken: ...

    def current(self) -> AccessToken | None:
        """The token ``get()`` would return now without waiting, or None when it would wait
        (no token, or one in its mandatory window). For hot paths that must not await; like
        google-auth's ``credentials.token`` with ``credentials.valid``."""
        ...

    def invalidate(self, token: AccessToken) -> bool: ...

    def state(self) -> TokenState: ...

    def status(self) -> ProviderStatus: ...
