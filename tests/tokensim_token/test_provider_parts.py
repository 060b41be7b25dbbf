"""The refreshing provider's parts, each alone: secret rotation, the retry schedule, the token
in use, the callers waiting on one call, and the counters every provider keeps."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from tokensim_token import AccessToken, Secret, TokenState, TokenUnavailable
from tokensim_token.backoff import Backoff
from tokensim_token.clock import Clock
from tokensim_token.current import CurrentToken
from tokensim_token.errors import ConfigurationError, ImsUnavailable, InvalidClient
from tokensim_token.model import TokenGrant
from tokensim_token.policy import RefreshPolicy
from tokensim_token.retries import RetrySchedule
from tokensim_token.rotation import SecretRotation
from tokensim_token.single_flight import SharedOutcome
from tokensim_token.stats import ProviderStats
from tokensim_token.store import SavedToken


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, wall=lambda: 1_700_000_000.0 + self.now)


def test_rotation_moves_on_only_for_a_refused_secret_and_once_round() -> None:
    rotation = SecretRotation([Secret("a"), Secret("b"), Secret("c")])
    assert rotation.current.reveal() == "a"
    assert not rotation.try_next(ImsUnavailable("down"))  # an outage: same secret, later
    refused = InvalidClient("refused", code="invalid_client")
    assert rotation.try_next(refused)
    assert rotation.current.reveal() == "b"
    assert rotation.try_next(refused)
    assert rotation.current.reveal() == "c"
    assert not rotation.try_next(refused)  # every secret refused in a row: give up for now
    rotation.exhausted()
    assert rotation.try_next(refused)
    assert rotation.current.reveal() == "a"
    rotation.accepted()
    assert rotation.try_next(refused)
    assert rotation.current.reveal() == "b"
    with pytest.raises(ValueError, match="at least one client secret"):
        SecretRotation([])


def test_the_retry_schedule_backs_off_and_a_configuration_error_waits_its_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tokensim_token.refreshing")
    schedule = RetrySchedule(Backoff(base=1.0, cap=4.0), config_error_interval=300.0)
    rng = random.Random(1)
    assert schedule.backing_off_for(0.0) == 0.0
    delays = [schedule.failed(ImsUnavailable("down"), 0.0, rng) for _ in range(6)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert schedule.failures == 6
    assert schedule.failed(ImsUnavailable("429", retry_after=30.0), 0.0, rng) == 30.0
    bad_scope = ConfigurationError("invalid_scope")
    assert schedule.failed(bad_scope, 10.0, rng) == 300.0
    assert schedule.failed(bad_scope, 20.0, rng) == 300.0
    assert schedule.config_error == "invalid_scope"
    assert schedule.backing_off_for(20.0) == 300.0
    assert caplog.text.count("a configuration error") == 1  # logged once for the episode
    schedule.succeeded()
    assert schedule.failures == 0
    assert schedule.config_error is None
    assert "accepts the credentials again" in caplog.text


def test_the_token_in_use_goes_fresh_stale_expiring_invalid_and_a_401_drops_only_it() -> None:
    time = FakeTime()
    current = CurrentToken(RefreshPolicy(0.5, 0.0, 300.0), time.clock(), random.Random(1))
    assert current.state(time.now) is TokenState.INVALID
    token = current.accept(TokenGrant(Secret("t1"), 3600), time.now, 0.0)
    assert current.refresh_at == time.now + 1800
    assert current.usable(time.now) is token
    assert current.state(time.now) is TokenState.FRESH
    assert current.state(time.now + 1800) is TokenState.STALE
    assert current.state(time.now + 3400) is TokenState.EXPIRING
    assert current.usable(time.now + 3400) is None
    assert current.state(time.now + 3600) is TokenState.INVALID
    other = AccessToken(Secret("t0"), 0.0, 10.0)
    assert not current.invalidate(other)  # an older token: nothing to drop
    assert current.invalidate(token)
    assert current.token is None
    assert current.take_rejected() is token
    assert current.take_rejected() is None


def test_a_saved_token_is_adopted_only_when_newer_not_refused_and_outside_the_margin() -> None:
    time = FakeTime()
    clock = time.clock()
    current = CurrentToken(RefreshPolicy(0.5, 0.0, 300.0), clock, random.Random(1))
    wall = clock.wall()
    assert current.adopt(SavedToken(Secret("old"), wall - 3500, 3600.0)) is None  # 100 s left
    adopted = current.adopt(SavedToken(Secret("good"), wall - 600, 3600.0))
    assert adopted is not None
    assert adopted.remaining(time.now) == pytest.approx(3000.0)
    assert current.adopt(SavedToken(Secret("older"), wall - 900, 3600.0)) is None
    assert current.invalidate(adopted)
    assert current.take_rejected() is adopted
    assert current.adopt(SavedToken(Secret("good"), wall - 600, 3600.0)) is None  # refused one


async def test_waiting_callers_share_one_outcome_and_are_told_why_it_failed() -> None:
    outcome = SharedOutcome()
    first, second = outcome.pending(), outcome.pending()
    assert first is second
    assert outcome.waited_for
    token = AccessToken(Secret("t"), 0.0, 10.0)
    outcome.resolve(token)
    assert await first is token
    assert not outcome.waited_for
    failed = outcome.pending()
    cause = ImsUnavailable("token endpoint answered 503")
    outcome.fail(cause)
    with pytest.raises(TokenUnavailable, match="answered 503") as caught:
        await failed
    assert caught.value.cause is cause
    assert caught.value.retryable
    abandoned = outcome.pending()
    outcome.fail(InvalidClient("refused"))  # nobody awaits it: no "never retrieved" warning
    await asyncio.sleep(0)
    assert abandoned.done()


def test_one_status_for_every_provider_from_its_counters() -> None:
    stats = ProviderStats()
    stats.called()
    stats.failed(ImsUnavailable("down"))
    stats.called()
    stats.succeeded()
    token = AccessToken(Secret("t"), obtained_at=100.0, expires_at=200.0)
    status = stats.status("per-node", TokenState.FRESH, token, 150.0, next_refresh_in=5.0)
    assert (status.token_calls, status.refresh_count, status.failed_refreshes) == (2, 1, 1)
    assert status.last_refresh_error == "down"
    assert (status.seconds_left, status.age_seconds) == (50.0, 50.0)
    assert status.fingerprint == token.fingerprint
    assert "t" not in repr(status).split("'")[1:2]
    expired = stats.status("per-node", TokenState.INVALID, token, 250.0)
    assert expired.fingerprint == token.fingerprint
    assert expired.seconds_left is None
