"""The node's token code, usable on its own.

Depends on aiohttp, cryptography and :mod:`core` (``Secret``, ``Clock``, atomic writes) only.
Start with :class:`RefreshingTokenProvider` (with :class:`OwnFile` for the ``per-node``
strategy) and :class:`ImsTokenClient`.
"""

from node.token.backoff import Backoff
from node.token.coordination import Coordinator, OwnFile, SharedStore, SharedToken
from node.token.errors import (
    ConfigurationError,
    ImsThrottled,
    ImsUnavailable,
    InvalidClient,
    KeyringError,
    MalformedReply,
    RefreshError,
    SealedDataError,
    TokenError,
    TokenUnavailable,
)
from node.token.ims_client import ImsTokenClient
from node.token.keyring import Keyring
from node.token.model import AccessToken, ProviderStatus, TokenGrant, TokenState
from node.token.naive import NaiveTokenProvider
from node.token.policy import RefreshPolicy
from node.token.provider import TokenFetcher, TokenProvider
from node.token.refreshing import ProviderSettings, RefreshingTokenProvider
from node.token.store import EncryptedTokenFile, SavedToken

__all__ = [
    "AccessToken",
    "Backoff",
    "ConfigurationError",
    "Coordinator",
    "EncryptedTokenFile",
    "ImsThrottled",
    "ImsTokenClient",
    "ImsUnavailable",
    "InvalidClient",
    "Keyring",
    "KeyringError",
    "MalformedReply",
    "NaiveTokenProvider",
    "OwnFile",
    "ProviderSettings",
    "ProviderStatus",
    "RefreshError",
    "RefreshPolicy",
    "RefreshingTokenProvider",
    "SavedToken",
    "SealedDataError",
    "SharedStore",
    "SharedToken",
    "TokenError",
    "TokenFetcher",
    "TokenGrant",
    "TokenProvider",
    "TokenState",
    "TokenUnavailable",
]
