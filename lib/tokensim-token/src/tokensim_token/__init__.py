"""tokensim-token: an OAuth 2 client-credentials token cache for asyncio services.

Start with :class:`ClientCredentialsTokens` (one constructor, ``async with``, an aiohttp
client middleware for the 401 retry: :mod:`tokensim_token.tokens`) and its settings,
:class:`TokenSettings`. The parts it is built from are public too: the refreshing provider
(:class:`RefreshingTokenProvider`) with a coordinator (:class:`OwnFile` for a process's own
sealed file, :class:`SharedToken` for one token shared by a cluster through a store), the
client (:class:`ClientCredentialsClient`), the keyring and the sealed file. Depends on aiohttp
and cryptography only; the Redis store (:mod:`tokensim_token.redis_store`) needs the ``redis``
extra.
"""

from tokensim_token.backoff import Backoff
from tokensim_token.client import ClientCredentialsClient
from tokensim_token.clock import Clock
from tokensim_token.coordination import Coordinator, OwnFile, SharedStore, SharedToken
from tokensim_token.errors import (
    ConfigurationError,
    ImsThrottled,
    ImsUnavailable,
    InvalidClient,
    KeyFileError,
    KeyringError,
    MalformedReply,
    RefreshError,
    SealedDataError,
    SettingsError,
    TokenError,
    TokenUnavailable,
    UnsafePathError,
)
from tokensim_token.keyring import Keyring
from tokensim_token.middleware import BearerAuth
from tokensim_token.model import AccessToken, ProviderStatus, TokenGrant, TokenState
from tokensim_token.policy import RefreshPolicy
from tokensim_token.provider import TokenFetcher, TokenProvider
from tokensim_token.refreshing import ProviderSettings, RefreshingTokenProvider
from tokensim_token.secrets import Secret
from tokensim_token.settings import TokenSettings
from tokensim_token.store import EncryptedTokenFile, SavedToken
from tokensim_token.tokens import ClientCredentialsTokens

__all__ = [
    "AccessToken",
    "Backoff",
    "BearerAuth",
    "ClientCredentialsClient",
    "ClientCredentialsTokens",
    "Clock",
    "ConfigurationError",
    "Coordinator",
    "EncryptedTokenFile",
    "ImsThrottled",
    "ImsUnavailable",
    "InvalidClient",
    "KeyFileError",
    "Keyring",
    "KeyringError",
    "MalformedReply",
    "OwnFile",
    "ProviderSettings",
    "ProviderStatus",
    "RefreshError",
    "RefreshPolicy",
    "RefreshingTokenProvider",
    "SavedToken",
    "SealedDataError",
    "Secret",
    "SettingsError",
    "SharedStore",
    "SharedToken",
    "TokenError",
    "TokenFetcher",
    "TokenGrant",
    "TokenProvider",
    "TokenSettings",
    "TokenState",
    "TokenUnavailable",
    "UnsafePathError",
]
