"""What the thread's sample code costs: AES-GCM with a fixed, all-zero IV, run in this process.

GCM is a stream cipher with a polynomial MAC. Under one key and one IV every message is
XORed with the same keystream, and every tag is masked with the same block ``E_K(J0)``:

* **Confidentiality.** ``C1 xor C2 = P1 xor P2``: whoever holds one old token and both sealed
  blobs (a backup of the store, a log of it) reads the new token.
* **Authenticity.** For one-block messages without associated data,
  ``T = C·H² xor L·H xor E_K(J0)`` in GF(2^128), so two tags give
  ``H² = (T1 xor T2) / (C1 xor C2)``; a square root is unique in a field of characteristic 2,
  so ``H``, then ``E_K(J0)``, follow, and a tag can be computed for any ciphertext: the
  forgery passes ``AESGCM.decrypt``. (For longer messages the same equation is a polynomial
  in ``H`` whose roots give it: Joux, "Authentication failures in NIST version of GCM",
  2006. One-block messages show the loss with arithmetic alone.)

:func:`demonstrate` does both with :mod:`cryptography`'s AESGCM, and says what it found;
nothing here is used by the estate, which seals with a fresh random nonce every time.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ZERO_IV = bytes(12)  # the thread's sample: new byte[12], never changed
TAG = 16
_R = 0xE1 << 120  # GCM's reduction polynomial, in its bit-reflected convention


@dataclass(frozen=True, slots=True)
class FixedIvFinding:
    token_bytes: int  # length of each sealed token
    recovered: bool  # the new token read from the old one and the two blobs
    forged: bool  # a ciphertext of our choosing accepted with a computed tag

    @property
    def sentence(self) -> str:
        read = (
            f"from one known token and two sealed blobs ({self.token_bytes} bytes each) this "
            f"run {'read' if self.recovered else 'failed to read'} the other token"
        )
        forged = (
            "and computed GCM's authentication key from two short messages, then a tag for a "
            f"message of its choosing that AESGCM {'accepted' if self.forged else 'refused'}"
        )
        return f"With the sample's fixed all-zero IV, {read}, {forged}."


def demonstrate(token_bytes: int = 1024) -> FixedIvFinding:
    key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(key)
    old, new = _token(token_bytes), _token(token_bytes)
    sealed_old = aead.encrypt(ZERO_IV, old, None)
    sealed_new = aead.encrypt(ZERO_IV, new, None)
    recovered = _xor(_xor(sealed_old[:-TAG], sealed_new[:-TAG]), old) == new
    return FixedIvFinding(token_bytes, recovered, _forge(aead))


def _forge(aead: AESGCM) -> bool:
    """Recover H and E_K(J0) from two one-block messages; seal a third without the key."""
    m1, m2 = os.urandom(16), os.urandom(16)
    s1, s2 = aead.encrypt(ZERO_IV, m1, None), aead.encrypt(ZERO_IV, m2, None)
    c1, t1 = _int(s1[:16]), _int(s1[16:])
    c2, t2 = _int(s2[:16]), _int(s2[16:])
    h_squared = _mul(t1 ^ t2, _inverse(c1 ^ c2))
    h = _square_root(h_squared)
    mask = t1 ^ _ghash_one_block(h, c1)  # E_K(J0), the same for every message under this IV
    chosen = b"scope=everything"  # 16 bytes the attacker wants the node to accept
    c3 = c1 ^ _int(m1) ^ _int(chosen)
    forged = c3.to_bytes(16, "big") + (_ghash_one_block(h, c3) ^ mask).to_bytes(16, "big")
    try:
        return aead.decrypt(ZERO_IV, forged, None) == chosen
    except InvalidTag:
        return False


def _ghash_one_block(h: int, c: int) -> int:
    lengths = 128  # len(A) = 0 bits, len(C) = 128 bits, as the 128-bit block 0^64 || 128
    return _mul(_mul(c, h) ^ lengths, h)


def _mul(x: int, y: int) -> int:
    """Multiplication in GF(2^128) as GCM defines it (NIST SP 800-38D, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _power(x: int, exponent: int) -> int:
    result, base = 1 << 127, x  # 1 << 127 is the field's one in GCM's bit order
    while exponent:
        if exponent & 1:
            result = _mul(result, base)
        base = _mul(base, base)
        exponent >>= 1
    return result


def _inverse(x: int) -> int:
    return _power(x, (1 << 128) - 2)


def _square_root(x: int) -> int:
    return _power(x, 1 << 127)


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _token(size: int) -> bytes:
    """A stand-in for an access token: URL-safe characters, like a JWT's."""
    return secrets.token_urlsafe(size)[:size].encode()
