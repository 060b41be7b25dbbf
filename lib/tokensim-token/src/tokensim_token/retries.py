"""When to call the token endpoint again after a failure: the provider's retry schedule.

A failure that may pass (an outage, a 429, a malformed reply) backs off: capped exponential
with full jitter, Retry-After as a floor (:class:`~tokensim_token.backoff.Backoff`). A
configuration error (the endpoint refuses the request itself: every secret refused,
``invalid_scope``) waits ``config_error_interval``, is logged once, and its end is logged.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from tokensim_token.backoff import Backoff
from tokensim_token.errors import ConfigurationError, RefreshError

logger = logging.getLogger("tokensim_token.refreshing")


@dataclass(slots=True)
class RetrySchedule:
    backoff: Backoff = field(default_factory=Backoff)
    config_error_interval: float = 300.0
    failures: int = 0  # in a row
    retry_at: float = 0.0  # while failures > 0: when the next call is due
    last_error: RefreshError | None = None
    config_error: str | None = None  # the configuration error in force, if any

    def failed(self, error: RefreshError, now: float, rng: random.Random) -> float:
        """Record a failed call at ``now``; the delay before the next one."""
        self.failures += 1
        self.last_error = error
        if isinstance(error, ConfigurationError):
            delay = self.config_error_interval
            if self.config_error is None:
                logger.error("%s; next try in %.0fs (a configuration error)", error, delay)
            self.config_error = str(error)
        else:
            delay = self.backoff.delay(self.failures, rng, retry_after=error.retry_after)
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        if self.config_error is not None:
            logger.info("token endpoint accepts the credentials again")
        self.failures = 0
        self.config_error = None

    def backing_off_for(self, now: float) -> float:
        """Seconds until the next call is allowed (0 when nothing failed)."""
        return self.retry_at - now if self.failures else 0.0
