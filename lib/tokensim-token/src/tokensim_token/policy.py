"""When to refresh: a proactive point in the lifetime with jitter, and a mandatory margin.

Defaults and why (see docs/token-clients.md): refresh at half-life as
MSAL does for long-lived tokens; a mandatory margin of 300 s as MSAL (botocore uses 600 s);
jitter so that nodes started together do not refresh in step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MARGIN_MAX_FRACTION = 0.2


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    refresh_at: float = 0.5
    jitter: float = 0.1
    expiry_margin: float = 300.0

    def margin(self, lifetime: float) -> float:
        """The mandatory window before expiry, at most a fifth of the lifetime.

        With the real 86399 s lifetime that is the full 300 s; a simulated 30 s token gets 6 s.
        """
        return min(self.expiry_margin, lifetime * MARGIN_MAX_FRACTION)

    def refresh_delay(self, lifetime: float, rng: random.Random) -> float:
        """Seconds after a token was obtained at which to refresh it, never inside the margin."""
        proactive = lifetime * (self.refresh_at + rng.uniform(0.0, self.jitter))
        return min(proactive, lifetime - self.margin(lifetime))


@dataclass(frozen=True, slots=True)
class FixedInterval(RefreshPolicy):
    """Refresh every ``interval`` seconds whatever the lifetime (a scheduler's job), never
    inside the margin: 24 calls a day for an hourly job and Adobe's 24 h tokens."""

    interval: float = 3600.0

    def refresh_delay(self, lifetime: float, rng: random.Random) -> float:
        return min(self.interval, lifetime - self.margin(lifetime))
