"""The simulated IMS's signing keys and revocations, as Adobe IMS publishes them.

IMS signs access tokens RS256 with an RSA key named in the token's header (``kid``, and an
``x5u`` certificate name) and publishes its public keys as a JWKS at ``/ims/keys``; a resource
server (our simulated Analytics) verifies signatures against that JWKS (docs/wire-formats.md).

* **Rotation** (``rotate``): the next key signs from now on; the old one stays in the JWKS
  until every token it signed has expired, so tokens issued before a rotation still verify.
  The next key is published before it signs anything (as large identity providers do), so a
  resource server that cached the JWKS knows it when its first token arrives.
* **Revocation**: ``POST /ims/revoke`` revokes one token (RFC 7009), and the simulation's
  "revoke every token" withdraws every key that signed a token so far (a new key signs from
  then on), which refuses every token issued before it. Revocations are what a resource
  server cannot see in a JWT: they are kept in a second, public file that Analytics reads
  (standing in for the check Adobe's gateway makes with IMS); the private keys are in a file
  (0600) that only IMS reads.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from tokensim_token.files import create_exclusive, write_atomic
from tokensim_token.jsonsafe import parse_json_object

RSA_BITS = 2048
MAX_FILE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    created: float  # wall clock
    retired: float | None  # when a newer key took over

    @property
    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


class ImsKeys:
    """The key file (private, IMS only) and the revocations file (read by Analytics too)."""

    def __init__(self, folder: Path, *, wall_clock: Callable[[], float]) -> None:
        self._keys_path = folder / "ims-keys.json"
        self.revocations = Revocations(folder / "ims-revocations.json")
        self._wall_clock = wall_clock
        if not self._keys_path.exists():
            now = wall_clock()
            create_exclusive(self._keys_path, _dump([_new_key(now), _new_key(now)]))
        self._keys = _load(self._keys_path)  # the last one is the next key, not used yet

    @property
    def current(self) -> SigningKey:
        return self._keys[-2]

    def jwks(self, *, max_lifetime: float) -> dict[str, Any]:
        """The public keys of every key whose tokens may still be valid."""
        now = self._wall_clock()
        live = [k for k in self._keys if k.retired is None or now < k.retired + max_lifetime]
        return {"keys": [k.jwk for k in live]}

    def rotate(self) -> str:
        """The next key signs from now on (and a new next one is made); the old ones are kept
        for verification."""
        now = self._wall_clock()
        *old, upcoming = self._keys
        retired = [
            SigningKey(k.kid, k.private, k.created, k.retired if k.retired is not None else now)
            for k in old
        ]
        self._keys = [*retired, upcoming, _new_key(now)]
        write_atomic(self._keys_path, _dump(self._keys))
        return self.current.kid

    def revoke_all(self) -> None:
        """Every token issued until now stops working: the keys that signed them are
        withdrawn (and no longer published); the next key signs from now on."""
        withdrawn = [k.kid for k in self._keys[:-1]]
        self.rotate()
        self.revocations.withdraw(withdrawn)
        self._keys = self._keys[-2:]
        write_atomic(self._keys_path, _dump(self._keys))


class Revocations:
    """Tokens revoked one by one (by id) and keys withdrawn (every token they signed): a small
    JSON file, re-read when it changes (one ``stat`` per check)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None
        self._kids: frozenset[str] = frozenset()
        self._ids: frozenset[str] = frozenset()

    def is_revoked(self, token_id: str, kid: str) -> bool:
        self._reload()
        return kid in self._kids or token_id in self._ids

    def revoke(self, token_id: str) -> None:
        self._reload()
        self._write(self._kids, self._ids | {token_id})

    def withdraw(self, kids: list[str]) -> None:
        self._reload()
        self._write(self._kids | set(kids), self._ids)

    def _write(self, kids: frozenset[str], ids: frozenset[str]) -> None:
        document: dict[str, Any] = {"withdrawn_keys": sorted(kids), "revoked_ids": sorted(ids)}
        write_atomic(self._path, json.dumps(document).encode(), mode=0o644)
        self._seen = None
        self._reload()

    def _reload(self) -> None:
        try:
            info = self._path.stat()
        except FileNotFoundError:
            return
        seen = (info.st_ino, info.st_mtime_ns)
        if seen == self._seen:
            return
        try:
            document = parse_json_object(self._path.read_bytes(), max_bytes=MAX_FILE)
            self._kids = frozenset(str(k) for k in document.get("withdrawn_keys", []))
            self._ids = frozenset(str(i) for i in document.get("revoked_ids", []))
        except (OSError, ValueError, TypeError):
            return  # a half-written or foreign file: keep what was known
        self._seen = seen


def _new_key(now: float) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return SigningKey(f"ims_na1-{secrets.token_hex(4)}", private, now, None)


def _dump(keys: list[SigningKey]) -> bytes:
    return json.dumps(
        [
            {
                "kid": k.kid,
                "created": k.created,
                "retired": k.retired,
                "pem": k.private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
            }
            for k in keys
        ]
    ).encode()


def _load(path: Path) -> list[SigningKey]:
    entries = json.loads(path.read_bytes())
    keys = []
    for entry in entries:
        private = serialization.load_pem_private_key(entry["pem"].encode(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        keys.append(SigningKey(entry["kid"], private, entry["created"], entry["retired"]))
    return keys
