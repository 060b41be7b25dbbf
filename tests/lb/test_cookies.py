"""Guards found by mutation testing and kept as tests of behaviour: cookies."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokensim_token.files import write_atomic

from lb.cookies import EXPIRY_STEP, StickyCookieCodec, load_cookie_key
from lb.errors import CookieKeyError

NOW = 1_790_000_000.0


KEY = bytes(range(32))


TARGETS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(target=TARGETS, ahead=st.integers(min_value=1, max_value=10**7))
def test_any_target_survives_a_balancer_restart(target: str, ahead: int) -> None:
    """Another codec with the same key (the balancer after a restart, or its second process)
    opens what the first sealed, whatever the target's id or the value's length."""
    value = StickyCookieCodec(KEY, cookie_name="AWSALB").encode(target, expires_at=NOW + ahead)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value), value  # a cookie-safe token, no padding
    restarted = StickyCookieCodec(KEY, cookie_name="AWSALB")
    assert restarted.decode(value, now=NOW) == target
    expires = -(-int(NOW + ahead) // EXPIRY_STEP) * EXPIRY_STEP
    assert restarted.decode(value, now=expires - 1) == target
    assert restarted.decode(value, now=expires) is None


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_altered_cookie_is_refused_by_a_fresh_process(data: st.DataObject) -> None:
    value = StickyCookieCodec(KEY, cookie_name="AWSALB").encode("d1", expires_at=NOW + 600)
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert StickyCookieCodec(KEY, cookie_name="AWSALB").decode(forged, now=NOW) is None


def test_a_cookie_is_bound_to_its_name_in_a_fresh_process() -> None:
    value = StickyCookieCodec(KEY, cookie_name="AWSALB").encode("d1", expires_at=NOW + 600)
    assert StickyCookieCodec(KEY, cookie_name="OTHER").decode(value, now=NOW) is None


def test_one_target_and_minute_give_one_cookie_value() -> None:
    """Every reply renews the cookie: the same target and minute reuse one sealed value
    rather than encrypting per response (and a fresh nonce per sealing keeps them apart)."""
    codec = StickyCookieCodec(KEY, cookie_name="AWSALB")
    first = codec.encode("d1", expires_at=NOW + 3600)
    assert codec.encode("d1", expires_at=NOW + 3600) == first
    assert codec.encode("d2", expires_at=NOW + 3600) != first
    assert StickyCookieCodec(KEY, cookie_name="AWSALB").encode("d1", expires_at=NOW + 3600) != (
        first
    )


def test_cookie_key_problems_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(CookieKeyError, match=r"environment variable LBKEY: .* not base64"):
        load_cookie_key("LBKEY", tmp_path / "unused", {"LBKEY": "not base64!"})
    exposed = tmp_path / "exposed.key"
    exposed.write_bytes(base64.b64encode(os.urandom(32)))
    exposed.chmod(0o644)
    with pytest.raises(CookieKeyError, match=r"exposed\.key: key file mode 0644.*chmod 600"):
        load_cookie_key(None, exposed, {})
    garbled = tmp_path / "garbled.key"
    write_atomic(garbled, "schlüssel-ä".encode())
    with pytest.raises(CookieKeyError, match=r"garbled\.key: the cookie key is not base64"):
        load_cookie_key(None, garbled, {})


def test_cookies_of_many_targets_open_in_another_process() -> None:
    # Whatever the last character of a value is (any of the 64 of base64url, by chance), it
    # must survive the trip through the browser and another balancer.
    sealer = StickyCookieCodec(KEY, cookie_name="AWSALB")
    targets = [f"d{'x' * (i % 3)}{i}" for i in range(3000)]  # every length modulo 3
    values = {t: sealer.encode(t, expires_at=NOW + 3600) for t in targets}
    assert len({v[-1] for v in values.values()}) >= 10  # many kinds of ending were made
    assert "X" in {v[-1] for v in values.values()}
    opener = StickyCookieCodec(KEY, cookie_name="AWSALB")
    for target, value in values.items():
        assert opener.decode(value, now=NOW) == target


def _respellings(value: str) -> list[str]:
    """Other spellings a lenient base64 decoder maps to the same bytes."""
    spelled = [value + "=" * (-len(value) % 4) or "====", value + "==", value + "\n", " " + value]
    spelled.append(value.replace("-", "+").replace("_", "/"))
    spelled.append(value[:10] + "!" + value[10:])  # a stray character, skipped when lenient
    last = value[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last character carries unused low bits: set them and the bytes stay the same
    spare = {2: 4, 3: 2}.get(len(value) % 4, 0)
    if spare:
        spelled.append(value[:-1] + alphabet[alphabet.index(last) | ((1 << spare) - 1)])
    return [s for s in spelled if s != value]


@pytest.mark.parametrize("target", ["d1", "dispatcher-with-a-long-name", "p"])
def test_only_the_canonical_spelling_of_a_cookie_names_a_session(target: str) -> None:
    codec = StickyCookieCodec(KEY, cookie_name="AWSALB")
    value = codec.encode(target, expires_at=NOW + 600)
    fresh = StickyCookieCodec(KEY, cookie_name="AWSALB")
    assert fresh.decode(value, now=NOW) == target
    others = _respellings(value)
    # Four respellings always differ (two padding characters, a newline, a leading space, a
    # stray character); the others exist only for some values (a '-' or '_' to swap; a length
    # that leaves padding or spare bits), and the value is random: 1 in 17 had none of them.
    assert len(others) >= 4
    for other in others:
        assert fresh.decode(other, now=NOW) is None, other
