"""Client secret rotation: an OAuth client may hold several secrets at once (Adobe's do).

The first is used until the token endpoint refuses it (``invalid_client``); then the next one
is tried at once. Only when every secret was refused in a row is it a configuration error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tokensim_token.errors import InvalidClient, RefreshError
from tokensim_token.secrets import Secret

logger = logging.getLogger("tokensim_token.refreshing")


class SecretRotation:
    def __init__(self, secrets: Sequence[Secret]) -> None:
        if not secrets:
            raise ValueError("at least one client secret is needed")
        self._secrets = tuple(secrets)
        self._index = 0
        self._tried = 0  # secrets refused in a row since the last accepted one

    @property
    def current(self) -> Secret:
        return self._secrets[self._index]

    def try_next(self, error: RefreshError) -> bool:
        """After ``error``: True when another secret should be tried right away (this one was
        refused and some other one has not been tried since the last success)."""
        if not isinstance(error, InvalidClient) or self._tried >= len(self._secrets) - 1:
            return False
        refused = self._index
        self._tried += 1
        self._index = (refused + 1) % len(self._secrets)
        logger.warning(
            "client secret #%d refused (%s); trying secret #%d",
            refused + 1,
            error.code or "invalid_client",
            self._index + 1,
        )
        return True

    def accepted(self) -> None:
        """The current secret got a token: the next refusal starts a new round."""
        self._tried = 0

    def exhausted(self) -> None:
        """Every secret was refused: the next try starts a new round from the current one."""
        self._tried = 0
