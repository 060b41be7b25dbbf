"""Guards found by mutation testing and kept as tests of behaviour: status."""

from __future__ import annotations

from tokensim_token.model import AccessToken, TokenState, describe, valid_or_invalid
from tokensim_token.secrets import Secret


def test_a_status_shows_a_token_by_fingerprint_and_only_while_it_is_valid() -> None:
    token = AccessToken(Secret("tok-value"), obtained_at=100.0, expires_at=160.0)
    assert describe(None, 120.0) == (None, None, None)
    assert describe(token, 120.0) == (token.fingerprint, 40.0, 20.0)
    assert describe(token, 160.0) == (token.fingerprint, None, None)
    assert describe(token, 159.5) == (token.fingerprint, 0.5, 59.5)  # its last second counts
    assert describe(token, 120.00049) == (token.fingerprint, 40.0, 20.0)  # to the millisecond
    assert valid_or_invalid(token, 159.9) is TokenState.FRESH
    assert valid_or_invalid(token, 160.0) is TokenState.INVALID
    assert valid_or_invalid(None, 0.0) is TokenState.INVALID
