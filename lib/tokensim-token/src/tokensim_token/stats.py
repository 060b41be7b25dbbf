"""What every provider counts, and the status (``/status``) it shows from those counts.

One class for every strategy, so that a status means the same whatever built it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokensim_token.model import AccessToken, ProviderStatus, TokenState, describe


@dataclass(slots=True)
class ProviderStats:
    """Token calls made, how many gave a token and how many failed, and the last failure."""

    token_calls: int = 0
    refresh_count: int = 0  # calls that gave a token
    failed_refreshes: int = 0
    last_error: str | None = None
    restored_from_disk: bool = False

    def called(self) -> None:
        self.token_calls += 1

    def succeeded(self) -> None:
        self.refresh_count += 1

    def failed(self, error: Exception) -> None:
        self.failed_refreshes += 1
        self.last_error = str(error)

    def status(
        self,
        strategy: str,
        state: TokenState,
        token: AccessToken | None,
        now: float,
        *,
        next_refresh_in: float | None = None,
        consecutive_failures: int = 0,
        configuration_error: str | None = None,
    ) -> ProviderStatus:
        """The status of a provider holding ``token`` at ``now``: no token value, only its
        fingerprint, and while it is valid its seconds left and its age."""
        fingerprint, seconds_left, age = describe(token, now)
        return ProviderStatus(
            strategy=strategy,
            state=state,
            fingerprint=fingerprint,
            seconds_left=seconds_left,
            age_seconds=age,
            next_refresh_in=next_refresh_in,
            token_calls=self.token_calls,
            refresh_count=self.refresh_count,
            failed_refreshes=self.failed_refreshes,
            consecutive_failures=consecutive_failures,
            last_refresh_error=self.last_error,
            configuration_error=configuration_error,
            restored_from_disk=self.restored_from_disk,
        )
