"""Guards found by mutation testing and kept as tests of behaviour: envelopes."""

from __future__ import annotations

import json
import re

import pytest
from tokensim_token.errors import SealedDataError
from tokensim_token.keyring import Keyring
from tokensim_token.sealing import open_sealed, seal


def test_sealed_data_for_another_owner_says_which_context_it_expected() -> None:
    keyring = Keyring.generate()
    blob = seal(keyring, b"secret", {"node": "p1", "purpose": "access-token"})
    with pytest.raises(SealedDataError) as caught:
        open_sealed(keyring, blob, {"purpose": "access-token", "node": "p2"})
    assert "node=p2, purpose=access-token" in str(caught.value)
    with pytest.raises(SealedDataError) as caught:
        open_sealed(keyring, seal(keyring, b"x", {"node": "p1"}), {})
    assert re.search(r"\bnothing\b", str(caught.value))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("v", 2),
        ("alg", "A128GCM"),
        ("kid", 7),
        ("ctx", "node=p1"),
        ("nonce", "stray!"),  # base64 with a character a lenient decoder would drop
        ("ct", "stray!"),
    ],
)
def test_an_envelope_with_any_field_wrong_is_not_opened(field: str, value: object) -> None:
    keyring = Keyring.generate()
    document = json.loads(seal(keyring, b"secret", {"node": "p1"}))
    if field in ("nonce", "ct"):
        encoded = str(document[field])
        value = encoded[:4] + "!" + encoded[4:]  # still decodes leniently to the same bytes
    document[field] = value
    with pytest.raises(SealedDataError, match="not a sealed envelope"):
        open_sealed(keyring, json.dumps(document).encode(), {"node": "p1"})
    assert open_sealed(keyring, seal(keyring, b"secret", {"node": "p1"}), {"node": "p1"})[0]
