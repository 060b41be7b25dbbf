"""Guards found by mutation testing and kept as tests of behaviour: secrets."""

from __future__ import annotations

import pytest
from tokensim_token.secrets import Secret

from core.errors import MissingSecretError
from core.secrets import secrets_from_env


def test_client_secrets_come_from_the_environment_in_order_skipping_unset_ones() -> None:
    environ = {"FIRST": "", "SECOND": "s2-value", "THIRD": "s3-value"}
    found = secrets_from_env(["FIRST", "SECOND", "THIRD"], environ, key_path="ims.x")
    assert [s.reveal() for s in found] == ["s2-value", "s3-value"]  # rotation order kept
    with pytest.raises(MissingSecretError) as raised:
        secrets_from_env(["FIRST", "NONE"], environ, key_path="ims.client_secret_env")
    assert str(raised.value) == (
        "ims.client_secret_env: none of the environment variables FIRST, NONE is set"
    )
    secret = Secret("s2-value")
    assert "s2-value" not in f"{secret} {secret!r} {[secret]}"
    assert secret == Secret("s2-value")
    assert secret != Secret("s3-value")
    assert len({secret, Secret("s2-value")}) == 1
    assert not Secret("")
