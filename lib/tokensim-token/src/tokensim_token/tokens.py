"""``ClientCredentialsTokens``: the token cache for one OAuth 2 client, in one object.

::

    tokens = ClientCredentialsTokens.from_env(
        token_url="https://ims-na1.adobelogin.com/ims/token/v3",
        client_id="my-client-id",
        scope="openid,AdobeID,read_organizations",
        secret_env="CLIENT_SECRET",
        cache_path="/var/lib/my-service/token.sealed",
    )
    async with tokens, aiohttp.ClientSession(middlewares=(tokens.middleware(),)) as session:
        async with session.post(api_url, json=body) as response: ...

What each call raises (every exception is a :class:`~tokensim_token.errors.TokenError`):

* the constructor and :meth:`from_env`: :class:`SettingsError` for a setting that cannot be
  used (a token URL that is not http(s), a missing secret variable, a secret with whitespace
  around it, a bound broken), :class:`KeyringError` for a keyring that cannot be used (a file
  other users can read, a configured file that is missing, not a keyring), naming the path.
  All of it before any network call.
* :meth:`start` (or ``async with``): nothing. It reuses a sealed token saved by an earlier run
  if one is good (an unreadable or tampered file is logged and replaced), and starts the one
  background refresher; a token call that fails there is retried with back-off.
* :meth:`get`: :class:`TokenUnavailable` when no usable token can be had within
  ``wait_timeout``; its ``cause`` is the failed token call, ``retryable`` is False for a
  configuration error (the secret or scope refused) and True for an outage.
* :meth:`close`: nothing; it stops the refresher and closes the HTTP session if it opened it.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import aiohttp

from tokensim_token.client import ClientCredentialsClient
from tokensim_token.clock import Clock
from tokensim_token.coordination import Coordinator, InMemory, OwnFile
from tokensim_token.errors import SettingsError, TokenError
from tokensim_token.keyring import Keyring, load_keyring_env, load_keyring_file
from tokensim_token.middleware import BearerAuth
from tokensim_token.model import AccessToken, ProviderStatus, TokenState
from tokensim_token.refreshing import RefreshingTokenProvider
from tokensim_token.secrets import Secret
from tokensim_token.settings import TokenSettings
from tokensim_token.store import EncryptedTokenFile

USER_AGENT = "tokensim-token/0.2"
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s#]*)?$")


class ClientCredentialsTokens:
    """A token for one client of a client-credentials server (Adobe IMS or any RFC 6749
    one), refreshed before it expires by one background call, shared by every caller of the
    process, sealed at rest so a restart costs no token call."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        secrets: Sequence[Secret],
        scope: str = "",
        token_file: EncryptedTokenFile | None = None,
        settings: TokenSettings | None = None,
        session: aiohttp.ClientSession | None = None,
        user_agent: str = USER_AGENT,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(token_url, str) or not _URL.match(token_url):
            raise SettingsError(f"token_url: an http:// or https:// URL, got {token_url!r}")
        if not client_id or client_id != client_id.strip():
            raise SettingsError("client_id: a non-empty value without whitespace around it")
        if not secrets:
            raise SettingsError("secrets: at least one client secret")
        for number, secret in enumerate(secrets, start=1):
            _check_secret(secret, f"secrets[{number - 1}]")
        self._token_url = token_url
        self._client_id = client_id
        self._secrets = tuple(secrets)
        self._scope = scope
        self._token_file = token_file
        self._settings = settings or TokenSettings()
        self._session = session
        self._own_session = False
        self._user_agent = user_agent
        self._clock = clock or Clock.system()
        self._rng = rng or random.SystemRandom()
        self._provider: RefreshingTokenProvider | None = None

    @classmethod
    def from_env(
        cls,
        *,
        token_url: str,
        client_id: str,
        scope: str = "",
        secret_env: str | Sequence[str] = "CLIENT_SECRET",  # noqa: S107 (a variable name)
        cache_path: str | os.PathLike[str] | None = None,
        keyring_path: str | os.PathLike[str] | None = None,
        keyring_env: str | None = None,
        settings: TokenSettings | None = None,
        session: aiohttp.ClientSession | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientCredentialsTokens:
        """The cache with its client secret(s) from the environment.

        ``secret_env``: the variable holding the secret, or several (tried in order when the
        server answers ``invalid_client``: secret rotation). ``cache_path``: where the sealed
        token is kept (None: memory only, a restart costs a token call). Its key comes from
        ``keyring_env`` (the keyring's JSON in a variable), else from ``keyring_path``
        (default ``keyring.json`` beside ``cache_path``, generated with mode 0600 when that
        default is missing; a path you name must exist).
        """
        env = os.environ if environ is None else environ
        names = (secret_env,) if isinstance(secret_env, str) else tuple(secret_env)
        secrets = _secrets_from(names, env)
        token_file = None
        if cache_path is not None:
            path = Path(cache_path)
            keyring = _keyring(path, keyring_path, keyring_env, env)
            token_file = EncryptedTokenFile(path, keyring, owner=client_id)
        elif keyring_path is not None or keyring_env is not None:
            raise SettingsError("keyring_path/keyring_env: only with cache_path (what they seal)")
        return cls(
            token_url=token_url,
            client_id=client_id,
            secrets=secrets,
            scope=scope,
            token_file=token_file,
            settings=settings,
            session=session,
        )

    # --- lifetime -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session (unless one was given), adopt a saved token, start the
        refresher. Makes no token call itself."""
        if self._provider is not None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        fetcher = ClientCredentialsClient(
            self._session,
            token_url=self._token_url,
            client_id=self._client_id,
            scope=self._scope,
            timeout=self._settings.request_timeout,
            user_agent=self._user_agent,
            wall_clock=self._clock.wall,
        )
        self._provider = RefreshingTokenProvider(
            fetcher=fetcher,
            secrets=self._secrets,
            settings=self._settings.provider_settings(),
            clock=self._clock,
            rng=self._rng,
            coordinator=_coordinator(self._token_file),
        )
        await self._provider.start()

    async def close(self) -> None:
        """Stop the refresher; close the HTTP session if :meth:`start` opened it."""
        provider, self._provider = self._provider, None
        if provider is not None:
            await provider.close()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session, self._own_session = None, False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- what callers use ---------------------------------------------------------------

    async def get(self) -> AccessToken:
        """A usable token (an immutable snapshot: use it for one request)."""
        return await self._started().get()

    def invalidate(self, token: AccessToken) -> bool:
        """The API refused ``token`` (401): drop it, unless a newer one replaced it already."""
        return self._started().invalidate(token)

    def middleware(
        self, *, refresh_statuses: Sequence[int] = (401,), max_refresh_attempts: int = 1
    ) -> BearerAuth:
        """An aiohttp client middleware: the bearer token on every request, and on a refresh
        status one new token and one retry (:mod:`tokensim_token.middleware`)."""
        return BearerAuth(
            self, refresh_statuses=refresh_statuses, max_refresh_attempts=max_refresh_attempts
        )

    def state(self) -> TokenState:
        return TokenState.INVALID if self._provider is None else self._provider.state()

    def status(self) -> ProviderStatus:
        """Counts and the token's fingerprint, for a status page; never the token."""
        return self._started().status()

    def _started(self) -> RefreshingTokenProvider:
        if self._provider is None:
            raise TokenError("the token cache is not started: use `async with` or start()")
        return self._provider


def _check_secret(secret: Secret, setting: str) -> None:
    value = secret.reveal()
    if not value:
        raise SettingsError(f"{setting}: the client secret is empty")
    if value != value.strip():
        raise SettingsError(
            f"{setting}: the client secret has whitespace around it (a copy-paste slip?); "
            "remove it, servers compare secrets exactly"
        )


def _secrets_from(names: Sequence[str], environ: Mapping[str, str]) -> tuple[Secret, ...]:
    if not names:
        raise SettingsError("secret_env: name at least one environment variable")
    found = []
    for name in names:
        value = environ.get(name)
        if value is None:
            continue
        _check_secret(Secret(value), f"secret_env: {name}")
        found.append(Secret(value))
    if not found:
        raise SettingsError(f"secret_env: {', '.join(names)} is not set in the environment")
    return tuple(found)


def _keyring(
    cache_path: Path,
    keyring_path: str | os.PathLike[str] | None,
    keyring_env: str | None,
    environ: Mapping[str, str],
) -> Keyring:
    if keyring_env is not None:
        return load_keyring_env(keyring_env, environ)
    if keyring_path is not None:
        return load_keyring_file(Path(keyring_path), create=False)
    return load_keyring_file(cache_path.parent / "keyring.json", create=True)


def _coordinator(token_file: EncryptedTokenFile | None) -> Coordinator:
    return OwnFile(token_file) if token_file is not None else InMemory("memory")
