"""Minimal HS256 JSON Web Tokens for the simulated IMS and Analytics (RFC 7519)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from core.jsonsafe import parse_json_object
from upstream.errors import InvalidToken


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], *, key: bytes, kid: str) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": kid, "x5u": "ims_na1-key-at-1.cer"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def decode(token: str, *, key_for: Callable[[str], bytes | None], now: float) -> dict[str, Any]:
    """Verify the signature with the key named by the header's ``kid``, then ``exp``."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = parse_json_object(_unb64(header_b64), max_bytes=8192)
        claims = parse_json_object(_unb64(claims_b64), max_bytes=8192)
        signature = _unb64(signature_b64)
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed token") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported algorithm")
    key = key_for(str(header.get("kid")))
    if key is None:
        raise InvalidToken("unknown signing key (revoked)")
    expected = hmac.new(key, f"{header_b64}.{claims_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
        raise InvalidToken("no expiry")
    if now >= claims["exp"]:
        raise InvalidToken("expired")
    return claims
