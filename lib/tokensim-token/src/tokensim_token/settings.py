"""Every setting of the token cache, with its default and its bounds, checked at construction.

===================== ========= ============================================================
setting               default   meaning and bounds
===================== ========= ============================================================
refresh_at            0.5       refresh proactively at this fraction of the lifetime (MSAL's
                                half-life); 0 < refresh_at < 1
refresh_jitter        0.1       plus up to this fraction, random per process, so processes
                                started together do not refresh together; 0 <= jitter and
                                refresh_at + refresh_jitter < 1
expiry_margin         300 s     the mandatory window before expiry: inside it callers wait
                                for the call in flight; capped at a fifth of the lifetime (a
                                30 s token gets 6 s); >= 0
wait_timeout          10 s      the longest ``get()`` waits for a token call; > 0
request_timeout       10 s      the longest one token call may take; > 0
retry_base            1 s       first back-off after a failed call (capped exponential, full
                                jitter, a Retry-After is a floor); > 0
retry_cap             60 s      longest back-off; >= retry_base
config_error_interval 300 s     how long to wait after the endpoint refused the credentials
                                or the scope (retrying soon will not help); > 0
peer_poll             1 s       shared store only: how soon to look again while another
                                process refreshes (every 0.1 s while requests wait for a
                                token; once more 0.1 s before the token in use expires);
                                > 0
===================== ========= ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tokensim_token.backoff import Backoff
from tokensim_token.errors import SettingsError
from tokensim_token.policy import RefreshPolicy
from tokensim_token.refreshing import ProviderSettings

_POSITIVE = ("wait_timeout", "request_timeout", "retry_base", "config_error_interval", "peer_poll")


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """How the cache refreshes (the table in this module's docstring)."""

    refresh_at: float = 0.5
    refresh_jitter: float = 0.1
    expiry_margin: float = 300.0
    wait_timeout: float = 10.0
    request_timeout: float = 10.0
    retry_base: float = 1.0
    retry_cap: float = 60.0
    config_error_interval: float = 300.0
    peer_poll: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{f.name}: expected a number, got {value!r}")
        if not 0.0 < self.refresh_at < 1.0:
            raise SettingsError(f"refresh_at: must be between 0 and 1, got {self.refresh_at}")
        if self.refresh_jitter < 0.0 or self.refresh_at + self.refresh_jitter >= 1.0:
            raise SettingsError(
                f"refresh_jitter: must be 0 or more with refresh_at + refresh_jitter below 1, "
                f"got {self.refresh_at} + {self.refresh_jitter}"
            )
        if self.expiry_margin < 0.0:
            raise SettingsError(f"expiry_margin: must be 0 or more, got {self.expiry_margin}")
        for name in _POSITIVE:
            if getattr(self, name) <= 0.0:
                raise SettingsError(f"{name}: must be above 0, got {getattr(self, name)}")
        if self.retry_cap < self.retry_base:
            raise SettingsError(
                f"retry_cap: must not be below retry_base ({self.retry_base}), got {self.retry_cap}"
            )

    def provider_settings(self) -> ProviderSettings:
        return ProviderSettings(
            policy=RefreshPolicy(self.refresh_at, self.refresh_jitter, self.expiry_margin),
            backoff=Backoff(self.retry_base, self.retry_cap),
            config_error_interval=self.config_error_interval,
            wait_timeout=self.wait_timeout,
            peer_poll=self.peer_poll,
        )
