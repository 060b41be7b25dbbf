"""AES-256-GCM envelopes bound to their owner.

Every seal draws a fresh random 96-bit nonce (``os.urandom(12)``): GCM with a repeated nonce
under one key leaks the authentication key and the XOR of plaintexts, which is why the
all-zero IV in widely copied samples must never be used.

The associated data binds the ciphertext to a context (e.g. ``node=p1``) and to the key id:
a file copied from another node, or edited in any byte, fails to open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokensim_token.errors import SealedDataError
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.keyring import Keyring

VERSION = 1
ALGORITHM = "AES-256-GCM"
NONCE_BYTES = 12
MAX_SEALED = 64 * 1024  # a sealed token is under 2 KB; anything far larger is not one


def seal(keyring: Keyring, plaintext: bytes, context: Mapping[str, str]) -> bytes:
    """Encrypt ``plaintext`` with the primary key; the context is stored in clear, bound."""
    kid = keyring.primary
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(keyring.keys[kid]).encrypt(nonce, plaintext, _aad(kid, context))
    envelope = {
        "v": VERSION,
        "alg": ALGORITHM,
        "kid": kid,
        "ctx": dict(context),
        "nonce": base64.b64encode(nonce).decode(),
        "ct": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope).encode()


def open_sealed(keyring: Keyring, data: bytes, context: Mapping[str, str]) -> tuple[bytes, str]:
    """Decrypt an envelope sealed for ``context``; return the plaintext and the key id used."""
    envelope = _envelope(data)
    if envelope.context != dict(context):
        raise SealedDataError(f"sealed for {_describe(envelope.context)}, not {_describe(context)}")
    kid = envelope.kid
    key = keyring.keys.get(kid)
    if key is None:
        raise SealedDataError(f"sealed with key {kid!r}, which is not in the keyring")
    try:
        plaintext = AESGCM(key).decrypt(envelope.nonce, envelope.ciphertext, _aad(kid, context))
    except InvalidTag:
        raise SealedDataError("authentication failed: the data was altered") from None
    return plaintext, kid


def _aad(kid: str, context: Mapping[str, str]) -> bytes:
    bound = "|".join(f"{k}={context[k]}" for k in sorted(context))
    return f"tokensim/v{VERSION}|{ALGORITHM}|kid={kid}|{bound}".encode()


@dataclass(frozen=True, slots=True)
class _Envelope:
    kid: str
    context: dict[str, str]
    nonce: bytes
    ciphertext: bytes


def _envelope(data: bytes) -> _Envelope:
    try:
        document = parse_json_object(data, max_bytes=MAX_SEALED)
        ok = (
            document.get("v") == VERSION
            and document.get("alg") == ALGORITHM
            and isinstance(document.get("kid"), str)
            and isinstance(document.get("ctx"), dict)
        )
        if not ok:
            raise ValueError("fields")
        nonce = base64.b64decode(document["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ct"], validate=True)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, binascii.Error):
        raise SealedDataError("not a sealed envelope") from None
    if len(nonce) != NONCE_BYTES:
        raise SealedDataError("not a sealed envelope (bad nonce)")
    context = {str(k): str(v) for k, v in document["ctx"].items()}
    return _Envelope(kid=document["kid"], context=context, nonce=nonce, ciphertext=ciphertext)


def _describe(context: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(context.items())) or "nothing"
