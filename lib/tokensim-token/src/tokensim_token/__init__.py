"""tokensim-token: an OAuth 2 client-credentials token cache for asyncio services.

Start with :class:`RefreshingTokenProvider` (with :class:`OwnFile` for one process's own
sealed token file) and :class:`ClientCredentialsClient`. Depends on aiohttp and cryptography
only; the Redis store (:mod:`tokensim_token.redis_store`) needs the ``redis`` extra.
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
    TokenError,
    TokenUnavailable,
)
from tokensim_token.keyring import Keyring
from tokensim_token.model import AccessToken, ProviderStatus, TokenGrant, TokenState
from tokensim_token.policy import RefreshPolicy
from tokensim_token.provider import TokenFetcher, TokenProvider
from tokensim_token.refreshing import ProviderSettings, RefreshingTokenProvider
from tokensim_token.secrets import Secret
from tokensim_token.store import EncryptedTokenFile, SavedToken

__all__ = [
    "AccessToken",
    "Backoff",
    "ClientCredentialsClient",
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
    "SharedStore",
    "SharedToken",
    "TokenError",
    "TokenFetcher",
    "TokenGrant",
    "TokenProvider",
    "TokenState",
    "TokenUnavailable",
]
