"""Analytics 2.0's rate limit: ``requests`` per ``per`` seconds per user (Adobe's API FAQ:
12 requests every 6 seconds, about 120 a minute), the user being the OAuth client, so every
node that calls with one ``x-api-key`` shares one budget whatever token it holds. A sliding
window: a request is refused when ``requests`` were already allowed in the ``per`` seconds
before it. Refused requests do not use up the budget."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from core.topology import RateLimitConfig


class RateLimiter:
    def __init__(self, config: RateLimitConfig, *, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._allowed: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Whether a request for ``key`` (a client id, or a token) may go ahead now."""
        config = self._config
        if not config.enabled:
            return True
        now = self._clock()
        window = self._allowed.setdefault(key, deque())
        while window and window[0] <= now - config.per:
            window.popleft()
        if len(window) >= config.requests:
            return False
        window.append(now)
        return True
