"""The token a provider holds: the one in use, when to refresh it, and what not to take back.

A token from the token endpoint is installed with a jittered refresh point (the policy's). A
token obtained elsewhere (saved before a restart, published by a peer) is adopted only if it
is not older than ours, not ours, not the one the API just refused, and has more than the
margin left. A 401 drops the token only if it is still the current one.
"""

from __future__ import annotations

import logging
import random

from tokensim_token.clock import Clock
from tokensim_token.model import AccessToken, TokenGrant, TokenState, fingerprint
from tokensim_token.policy import RefreshPolicy
from tokensim_token.secrets import Secret
from tokensim_token.store import SavedToken

logger = logging.getLogger("tokensim_token.refreshing")


class CurrentToken:
    def __init__(self, policy: RefreshPolicy, clock: Clock, rng: random.Random) -> None:
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self.token: AccessToken | None = None
        self.obtained_wall = float("-inf")  # when the token in use was obtained (wall clock)
        self.refresh_at = 0.0  # monotonic: the proactive refresh of the token in use
        self.rejected: AccessToken | None = None  # refused by the API; to drop from the store
        self.rejected_value: Secret | None = None  # the last refused token: never adopted again
        self._stale_value: Secret | None = None  # the last stored token found too old

    def usable(self, now: float) -> AccessToken | None:
        """The token while it is outside its margin (callers need not wait), else None."""
        token = self.token
        if token is not None and now < token.expires_at - self._policy.margin(token.lifetime):
            return token
        return None

    def state(self, now: float) -> TokenState:
        token = self.token
        if token is None or now >= token.expires_at:
            return TokenState.INVALID
        if now >= token.expires_at - self._policy.margin(token.lifetime):
            return TokenState.EXPIRING
        return TokenState.STALE if now >= self.refresh_at else TokenState.FRESH

    def accept(self, grant: TokenGrant, sent_at: float, sent_wall: float) -> AccessToken:
        """A token the endpoint granted to a call sent at ``sent_at`` (network time counts
        against the token, never for it)."""
        lifetime = float(grant.expires_in)
        token = AccessToken(grant.access_token, obtained_at=sent_at, expires_at=sent_at + lifetime)
        self._install(token)
        self.obtained_wall = sent_wall
        logger.info(
            "new token %s, lifetime %.0fs, next refresh in %.0fs",
            token.fingerprint,
            lifetime,
            self.refresh_at - sent_at,
        )
        return token

    def adopt(self, saved: SavedToken) -> AccessToken | None:
        """Use a token obtained elsewhere (before a restart, or by another node) if it is not
        older than ours, not ours, not the one just refused, and has more than the margin left.
        (Not older rather than newer: two tokens may be obtained within the same clock tick.)"""
        current = self.token
        if (
            saved.obtained_wall < self.obtained_wall
            or (current is not None and saved.value == current.value)
            or saved.value == self.rejected_value
        ):
            return None  # older, the one in use, or the one just refused
        now = self._clock.monotonic()
        elapsed = max(0.0, self._clock.wall() - saved.obtained_wall)
        remaining = saved.lifetime - elapsed
        margin = self._policy.margin(saved.lifetime)
        if remaining <= margin:
            if saved.value != self._stale_value:  # one line per token, however often it is read
                self._stale_value = saved.value
                logger.info(
                    "stored token %s is %s, inside the margin; not used",
                    fingerprint(saved.value),
                    f"expired {-remaining:.0f}s ago"
                    if remaining < 0
                    else f"{remaining:.0f}s from expiry",
                )
            return None
        token = AccessToken(saved.value, obtained_at=now - elapsed, expires_at=now + remaining)
        self._install(token)
        self.obtained_wall = saved.obtained_wall
        if self.refresh_at < now:
            # Its refresh was due while this node was down: spread it over the first half of
            # what is left before the margin, so restarted nodes do not all call at once.
            self.refresh_at = now + self._rng.uniform(0.0, (remaining - margin) / 2)
        logger.info(
            "using stored token %s (%.0fs left); no token call", token.fingerprint, remaining
        )
        return token

    def invalidate(self, token: AccessToken) -> bool:
        """Drop ``token`` after the API refused it, unless a newer one already replaced it."""
        if self.token is None or self.token.value != token.value:
            return False
        logger.warning("token %s was refused by the API; getting a new one", token.fingerprint)
        self.token = None
        self.rejected = token
        return True

    def take_rejected(self) -> AccessToken | None:
        """The token the API refused since the last look, remembered as never to adopt."""
        rejected, self.rejected = self.rejected, None
        if rejected is not None:
            self.rejected_value = rejected.value
        return rejected

    def _install(self, token: AccessToken) -> None:
        self.token = token
        self.refresh_at = token.obtained_at + self._policy.refresh_delay(token.lifetime, self._rng)
