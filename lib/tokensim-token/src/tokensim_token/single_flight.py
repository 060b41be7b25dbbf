"""Callers waiting for a token share the outcome of one token call (single-flight).

A caller with no usable token takes the pending outcome (of the call in flight, or of the
next one) and waits on it, shielded, with its own timeout; the refresher resolves it once,
with the new token or with why the call failed. A failed outcome is marked retrieved even when
every waiter has timed out, so asyncio never reports it as never retrieved.
"""

from __future__ import annotations

import asyncio

from tokensim_token.errors import RefreshError, TokenUnavailable
from tokensim_token.model import AccessToken


class SharedOutcome:
    def __init__(self) -> None:
        self._future: asyncio.Future[AccessToken] | None = None
        self.in_flight = False  # a token call is out now

    def pending(self) -> asyncio.Future[AccessToken]:
        """The outcome of the token call in flight, or of the next one."""
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
            self._future.add_done_callback(_retrieve)
        return self._future

    @property
    def waited_for(self) -> bool:
        """Whether callers are waiting for an outcome now."""
        return self._future is not None and not self._future.done()

    def resolve(self, token: AccessToken) -> None:
        future = self._take()
        if future is not None:
            future.set_result(token)

    def fail(self, error: RefreshError) -> None:
        future = self._take()
        if future is not None:
            future.set_exception(TokenUnavailable(f"token call failed: {error}", cause=error))

    def close(self) -> None:
        future = self._take()
        if future is not None:
            future.set_exception(TokenUnavailable("token provider closed"))

    def _take(self) -> asyncio.Future[AccessToken] | None:
        future, self._future = self._future, None
        return None if future is None or future.done() else future


def _retrieve(future: asyncio.Future[AccessToken]) -> None:
    """Mark a failed outcome as seen even when every waiter has timed out."""
    if not future.cancelled():
        future.exception()
