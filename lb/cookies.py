"""The sticky-session cookie: opaque and authenticated, like ALB's ``AWSALB``.

The value is AES-256-GCM over ``<target id>|<expiry>`` with a fresh nonce, so a client can
neither read which target it is on nor choose or forge one. A cookie that does not decrypt,
has expired, or names a target that is gone or unhealthy simply starts a new session.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tokensim_token.errors import KeyFileError
from tokensim_token.keyfiles import read_key_file

from lb.errors import CookieKeyError

NONCE_BYTES = 12
_K = TypeVar("_K")
_V = TypeVar("_V")


EXPIRY_STEP = 60  # expiries are whole minutes: one sealed value per target per minute
REMEMBERED = 4096


class StickyCookieCodec:
    """Seals and opens cookie values; both are cached, because on the hot path every request
    carries a cookie and every reply renews it.

    Expiry is rounded up to the minute, so all sessions on one target share one sealed value
    per minute (it names only the target and the expiry, so sharing reveals nothing), and a
    value that has been authenticated once is remembered instead of decrypted again.
    """

    def __init__(self, key: bytes, *, cookie_name: str) -> None:
        if len(key) != 32:
            raise CookieKeyError(f"the sticky cookie key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._aad = f"tokensim-lb/v1|{cookie_name}".encode()
        self._sealed: dict[tuple[str, int], str] = {}
        self._opened: dict[str, tuple[str, int]] = {}

    def encode(self, target_id: str, *, expires_at: float) -> str:
        expires = -(-int(expires_at) // EXPIRY_STEP) * EXPIRY_STEP
        value = self._sealed.get((target_id, expires))
        if value is None:
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._aead.encrypt(nonce, f"{target_id}|{expires}".encode(), self._aad)
            value = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
            _remember(self._sealed, (target_id, expires), value)
            _remember(self._opened, value, (target_id, expires))
        return value

    def decode(self, value: str, *, now: float) -> str | None:
        """The target id in a valid, unexpired cookie; None for anything else."""
        opened = self._opened.get(value) or self._open(value)
        if opened is None or now >= opened[1]:
            return None
        return opened[0]

    def _open(self, value: str) -> tuple[str, int] | None:
        if not _CANONICAL.fullmatch(value):
            return None  # only what encode() writes: the URL-safe alphabet, no padding
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != value:
                return None  # unused low bits set: another spelling of the same bytes
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad)
            target_id, _, expires = plain.decode().rpartition("|")
            opened = (target_id, int(expires))
        except (ValueError, InvalidTag, binascii.Error, UnicodeDecodeError):
            return None
        _remember(self._opened, value, opened)
        return opened


# Unpadded URL-safe base64, as encode() writes it; a length of 1 mod 4 is never valid.
_CANONICAL = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    if len(cache) >= REMEMBERED:
        cache.clear()  # simple and bounded; a miss only costs one AES operation
    cache[key] = value


def load_cookie_key(key_env: str | None, key_file: Path, environ: Mapping[str, str]) -> bytes:
    """The key from ``key_env`` if set, else from ``key_file`` (generated 0600 if missing)."""
    if key_env:
        encoded = environ.get(key_env)
        if not encoded:
            raise CookieKeyError(f"lb.sticky.key_env: environment variable {key_env} is not set")
        source = f"environment variable {key_env}"
    else:
        try:
            data = read_key_file(key_file, generate=lambda: base64.b64encode(os.urandom(32)))
        except KeyFileError as exc:
            raise CookieKeyError(str(exc)) from None
        encoded, source = data.decode("ascii", "replace"), str(key_file)
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise CookieKeyError(f"{source}: the cookie key is not base64") from None
    if len(key) != 32:
        raise CookieKeyError(f"{source}: the cookie key must be 32 bytes, got {len(key)}")
    return key
