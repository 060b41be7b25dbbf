"""The token package's exceptions, one tree (httpx ``_exceptions.py`` style)::

    TokenError
    ├── SettingsError           (also a ValueError) a setting cannot be used; names the setting
    ├── RefreshError            a token call failed; ``retryable``, ``retry_after``
    │   ├── ImsUnavailable      cannot connect, timed out, or a 5xx reply
    │   ├── ImsThrottled        429 (``retry_after`` from Retry-After)
    │   ├── MalformedReply      a 200 whose body is not a usable token
    │   └── ConfigurationError  the endpoint refuses the request itself (invalid_scope, ...)
    │       └── InvalidClient   invalid_client / unauthorized_client: the secret is wrong
    ├── TokenUnavailable        no usable token for a request right now; ``cause``, ``retryable``
    ├── SealedDataError         sealed data cannot be trusted (tampered, foreign, not sealed)
    ├── KeyringError            the keyring cannot be read or is not valid (at start)
    ├── KeyFileError            a key file is missing, unreadable, open to others, or too large
    ├── UnsafePathError         (also an OSError) a secrets folder or file is not the node's own
    ├── ReplicationError        a push or pull between nodes did not get through
    └── StoreUnavailable        (also an OSError) the shared store did not answer

Messages never contain a token or a secret: they are shown in ``/status`` and in logs.
"""

from __future__ import annotations


class TokenError(Exception):
    """Base of every error raised by :mod:`tokensim_token`."""


class SettingsError(TokenError, ValueError):
    """A setting given to the library cannot be used: raised at construction, before any
    network call; the message names the setting and says what is accepted."""


class RefreshError(TokenError):
    """A call to the token endpoint did not produce a usable token."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ImsUnavailable(RefreshError):
    """The token endpoint could not be reached, timed out, or answered 5xx."""


class ImsThrottled(RefreshError):
    """The token endpoint answered 429 Too Many Requests."""


class MalformedReply(RefreshError):
    """The token endpoint answered 200 with something that is not a usable bearer token."""


class ConfigurationError(RefreshError):
    """The token endpoint rejects the request itself; retrying soon will not help."""

    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class InvalidClient(ConfigurationError):
    """The client id or secret is not accepted (``invalid_client``, ``unauthorized_client``)."""


class TokenUnavailable(TokenError):
    """There is no token a request can use now (none yet, or the token calls are failing).

    ``cause`` is the failed token call behind it, if any (also its ``__cause__``).
    ``retryable`` is False when that call was refused as a configuration error (a wrong
    secret, an unknown scope: asking again soon will not help), True otherwise (an outage, a
    timeout, throttling: it may pass).
    """

    def __init__(self, message: str, *, cause: RefreshError | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause

    @property
    def retryable(self) -> bool:
        return self.cause is None or self.cause.retryable


class SealedDataError(TokenError):
    """Encrypted data failed authentication, names another owner, or is not an envelope."""


class KeyringError(TokenError):
    """The keyring cannot be read or is not valid; the message says where and why."""


class KeyFileError(TokenError):
    """A key file is missing, unreadable, too open or too large; the message names the path."""


class UnsafePathError(TokenError, OSError):
    """A folder or file for secrets was not made by this service: another user owns it, others
    may write it, or it is a symbolic link, a pipe or a device where a regular file belongs.
    The message names the path, its owner and its mode, as OpenSSH's StrictModes does."""


class ReplicationError(TokenError):
    """A push or pull did not get through (the message names the peer, never the token)."""


class StoreUnavailable(TokenError, OSError):
    """The shared store (Redis) did not answer. An OSError too: the coordinator degrades to
    refreshing alone on any OSError of a store, I/O errors of the file store included."""
