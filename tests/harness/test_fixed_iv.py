"""The thread's sample seals with AES-GCM under a fixed all-zero IV: the demonstration the
report quotes reads a new token from an old one and forges a tag, in this process."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness.fixed_iv import ZERO_IV, _inverse, _mul, _square_root, demonstrate
from harness.report.answers import answers
from tests.harness.test_report import full_sections

ONE = 1 << 127  # the field's one, in GCM's bit order


def test_a_fixed_iv_gives_away_the_next_token_and_the_authentication_key() -> None:
    found = demonstrate(token_bytes=900)
    assert found.recovered
    assert found.forged
    assert "read the other token" in found.sentence
    assert "AESGCM accepted" in found.sentence


def test_the_field_arithmetic_is_gcms() -> None:
    x = 0x66E94BD4EF8A2C3B884CFA59CA342B2E  # H for the all-zero key (SP 800-38D test case 1)
    assert _mul(x, ONE) == x
    assert _mul(x, _inverse(x)) == ONE
    assert _square_root(_mul(x, x)) == x


def test_a_fresh_nonce_per_sealing_gives_nothing_away() -> None:
    """The contrast: what the estate does. Two sealings of one token never share a keystream."""
    import os

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    token = b"t" * 64
    first = aead.encrypt(os.urandom(12), token, None)
    second = aead.encrypt(os.urandom(12), token, None)
    assert first != second
    fixed = aead.encrypt(ZERO_IV, token, None)
    assert fixed == aead.encrypt(ZERO_IV, token, None)  # the sample's: the same every time


def test_the_where_answer_quotes_the_demonstration() -> None:
    found = {a.anchor: a for a in answers(full_sections(), fixed_iv=demonstrate())}
    assert "anyone who reads the store and one old token reads every new one" in (
        found["where"].text
    )
    assert "can write a sealed value the nodes will accept" in found["where"].text
