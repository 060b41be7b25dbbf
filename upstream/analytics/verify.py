"""How the simulated Analytics checks a bearer token: as a resource server, against IMS's JWKS.

The signature is verified with the key the token's header names (``kid``), taken from the
JWKS at ``/ims/keys`` (fetched over HTTP, cached, fetched again for a key it does not know, at
most once per :data:`REFETCH_AFTER`); the expiry is ``created_at + expires_in`` (IMS tokens
carry both in milliseconds, and no ``exp``); a token IMS revoked is refused (the revocations
file stands for the check Adobe's gateway makes with IMS). Anything else is not a token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
from tokensim_token.jsonsafe import parse_json_object

from upstream.ims.keys import Revocations

logger = logging.getLogger(__name__)

REFETCH_AFTER = 5.0  # seconds: the least time between two fetches of the JWKS
MAX_JWKS = 256 * 1024


class TokenVerifier:
    def __init__(
        self,
        jwks_url: str,
        revocations: Revocations,
        *,
        wall_clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self._jwks_url = jwks_url
        self._revocations = revocations
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._fetching: asyncio.Lock | None = None

    async def claims(self, token: str, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        """The token's claims when it is valid now; None otherwise."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        key = await self._key(str(kid), session)
        if key is None:
            return None
        try:
            claims = jwt.decode(token, key.key, algorithms=["RS256"])
            created = int(claims["created_at"]) / 1000
            lifetime = int(claims["expires_in"]) / 1000
            token_id = str(claims["id"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
        if self._wall_clock() >= created + lifetime:
            return None  # expired
        if self._revocations.is_revoked(token_id, str(kid)):
            return None
        return dict(claims)

    async def _key(self, kid: str, session: aiohttp.ClientSession) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._fetching is None:
            self._fetching = asyncio.Lock()
        # Requests with a key not seen yet wait for the one fetch in flight (without the wait,
        # the first requests after a start or a rotation would be refused while it runs).
        async with self._fetching:
            if kid not in self._keys and self._monotonic() - self._fetched_at >= REFETCH_AFTER:
                await self._fetch(session)
        return self._keys.get(kid)

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        self._fetched_at = self._monotonic()
        try:
            async with session.get(self._jwks_url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                document = parse_json_object(await r.content.read(MAX_JWKS + 1), max_bytes=MAX_JWKS)
            keys = {str(k["kid"]): jwt.PyJWK(k) for k in document["keys"]}
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            logger.warning("could not fetch the JWKS at %s: %s", self._jwks_url, exc)
            return
        except jwt.PyJWTError as exc:
            logger.warning("the JWKS at %s has a key that is not usable: %s", self._jwks_url, exc)
            return
        self._keys = keys
