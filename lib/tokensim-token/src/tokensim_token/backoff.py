"""Retries as data: capped exponential backoff with full jitter, and Retry-After parsing.

Full jitter (a uniform draw between 0 and the capped exponential) is what AWS recommends and
what google-auth's ``_exponential_backoff.py`` does: many nodes failing at once spread out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MAX_EXPONENT = 62


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 1.0
    cap: float = 60.0

    def delay(
        self, failures: int, rng: random.Random, *, retry_after: float | None = None
    ) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 = the first failure).

        The server's Retry-After, when given, is a floor: we never come back earlier.
        """
        exponent = min(max(0, failures - 1), MAX_EXPONENT)  # 2**1024 overflows a float
        ceiling = min(self.cap, self.base * 2.0**exponent)
        jittered = rng.uniform(0.0, ceiling)
        return max(jittered, retry_after) if retry_after is not None else jittered


def parse_retry_after(value: str | None, *, now_wall: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_wall)
