"""Immutable values of the token package: the token a caller gets, its state, a status."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

from tokensim_token.secrets import Secret


class TokenState(enum.Enum):
    """Where the current token is in its life (google-auth ``TokenState``).

    FRESH: before its proactive refresh time. STALE: a refresh is due, the token still works and
    requests never wait. EXPIRING: inside the mandatory margin before expiry; requests join a
    token call in flight. INVALID: no token, or expired.
    """

    FRESH = "fresh"
    STALE = "stale"
    EXPIRING = "expiring"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What the token endpoint returned: the value and ``expires_in`` seconds."""

    access_token: Secret
    expires_in: int


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A snapshot of one token. Callers keep it for the duration of one request.

    ``obtained_at`` and ``expires_at`` are readings of the provider's monotonic clock, taken
    when the token request was sent (so network time counts against the token, never for it).
    The token's own ``exp`` claim is not trusted: node and IMS clocks may disagree.
    """

    value: Secret
    obtained_at: float
    expires_at: float
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", fingerprint(self.value))

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.obtained_at

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def authorization(self) -> str:
        """The ``Authorization`` header value. The one place a node reveals the token."""
        return f"Bearer {self.value.reveal()}"


def fingerprint(value: Secret) -> str:
    """First 8 hex characters of the token's SHA-256: enough to tell tokens apart, no more."""
    return hashlib.sha256(value.reveal().encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """What ``/status`` shows about a provider. Holds no token value."""

    strategy: str
    state: TokenState
    fingerprint: str | None
    seconds_left: float | None
    next_refresh_in: float | None
    token_calls: int
    refresh_count: int
    failed_refreshes: int
    consecutive_failures: int
    last_refresh_error: str | None
    configuration_error: str | None
    restored_from_disk: bool
    age_seconds: float | None = None  # since the token in use was obtained; None: no token


def valid_or_invalid(token: AccessToken | None, now: float) -> TokenState:
    """The state of a provider that has no refresh window: FRESH until expiry, then INVALID."""
    if token is None or now >= token.expires_at:
        return TokenState.INVALID
    return TokenState.FRESH


def describe(
    token: AccessToken | None, now: float
) -> tuple[str | None, float | None, float | None]:
    """What a status may show of ``token``: its fingerprint, and while it is valid its seconds
    left and its age."""
    if token is None:
        return None, None, None
    left = token.remaining(now)
    if left <= 0:
        return token.fingerprint, None, None
    return token.fingerprint, round(left, 3), round(now - token.obtained_at, 3)
