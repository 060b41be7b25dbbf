"""The OAuth2 client-credentials call (Adobe IMS ``POST /ims/token/v3`` or any RFC 6749 server).

Every way the call can go wrong becomes a :class:`~tokensim_token.errors.RefreshError` subclass;
nothing the server sends can crash the caller. See docs/wire-formats.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from tokensim_token.backoff import parse_retry_after
from tokensim_token.errors import (
    ConfigurationError,
    ImsThrottled,
    ImsUnavailable,
    InvalidClient,
    MalformedReply,
    RefreshError,
)
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.model import TokenGrant
from tokensim_token.redaction import redact
from tokensim_token.secrets import Secret

logger = logging.getLogger(__name__)

MAX_REPLY_BYTES = 64 * 1024
CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class ClientCredentialsClient:
    """Requests tokens with ``grant_type=client_credentials`` (client_secret_post).

    The secret goes in the form body, never in the URL: query strings get logged.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        token_url: str,
        client_id: str,
        scope: str,
        timeout: float,
        user_agent: str,
        wall_clock: Callable[[], float],
    ) -> None:
        self._session = session
        self._token_url = token_url
        self._client_id = client_id
        self._scope = scope
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._wall_clock = wall_clock

    async def fetch(self, secret: Secret) -> TokenGrant:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": secret.reveal(),
            "scope": self._scope,
        }
        try:
            async with self._session.post(
                self._token_url,
                data=form,
                headers=self._headers,
                timeout=self._timeout,
                middlewares=(),  # a session's own middlewares (BearerAuth) are not for this call
            ) as response:
                body = await response.content.read(MAX_REPLY_BYTES)
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now_wall=self._wall_clock()
                )
                return parse_token_reply(response.status, body, retry_after=retry_after)
        except RefreshError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ImsUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from None


def parse_token_reply(status: int, body: bytes, *, retry_after: float | None) -> TokenGrant:
    """Turn an HTTP reply from the token endpoint into a grant or a typed error."""
    if status == 200:
        return _parse_grant(body)
    if status == 429:
        raise ImsThrottled("token endpoint throttled the request (429)", retry_after=retry_after)
    if status >= 500 or status == 408:
        raise ImsUnavailable(f"token endpoint answered {status}", retry_after=retry_after)
    code, description = _oauth_error(body)
    detail = f"{code}: {description}" if description else (code or "no OAuth error in body")
    if code in CREDENTIAL_ERRORS or (code is None and status == 401):
        raise InvalidClient(f"client credentials refused ({status} {detail})", code=code)
    raise ConfigurationError(f"token request refused ({status} {detail})", code=code)


def _parse_grant(body: bytes) -> TokenGrant:
    document = _json_object(body)
    if document is None:
        raise MalformedReply("token reply is not a JSON object")
    token = document.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise MalformedReply("token reply has no access_token")
    token_type = document.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise MalformedReply(f"token reply has token_type {_shown(token_type)}, not bearer")
    expires_in = document.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise MalformedReply(
            f"token reply has expires_in {_shown(expires_in)}, not a positive integer"
        )
    return TokenGrant(access_token=Secret(token), expires_in=expires_in)


def _oauth_error(body: bytes) -> tuple[str | None, str | None]:
    document = _json_object(body) or {}
    code = document.get("error")
    description = document.get("error_description")
    return (
        code if isinstance(code, str) else None,
        redact(description[:200]) if isinstance(description, str) else None,
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        return parse_json_object(body, max_bytes=MAX_REPLY_BYTES)
    except ValueError:
        return None


def _shown(value: object) -> str:
    """A value from the reply, safe and short enough for a log line."""
    return redact(repr(value)[:40])
