"""The keys that encrypt tokens at rest, with rotation.

A keyring is ``{"version": 1, "primary": "<kid>", "keys": {"<kid>": "<base64 32 bytes>"}}``.
New data is sealed with the primary key; any key in the ring opens data, so a new key can be
added (``python -m node.keys rotate``) while files sealed with the old one still decrypt.

It lives in a key file (mode 0600; generated on first start only at the default path, so the
default set-up needs no secret handling; a configured file that is missing, or one that other
users can read, stops the node with a message naming it) or in an environment variable.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tokensim_token.errors import KeyFileError, KeyringError
from tokensim_token.files import make_private_folder, open_own_file, write_atomic
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.keyfiles import read_key_file

logger = logging.getLogger(__name__)

KEY_BYTES = 32  # AES-256
KEYRING_VERSION = 1  # written by to_json; a file of another version is refused, not guessed at
MAX_KEYRING = 64 * 1024  # hundreds of keys; a larger file is not a keyring


@dataclass(frozen=True, slots=True)
class Keyring:
    primary: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise KeyringError(f"primary key {self.primary!r} is not in the keyring")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} is {len(key)} bytes, expected {KEY_BYTES}")
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary!r}, kids={sorted(self.keys)!r})"

    @classmethod
    def generate(cls) -> Keyring:
        kid = new_kid()
        return cls(primary=kid, keys={kid: secrets.token_bytes(KEY_BYTES)})

    def with_new_primary(self) -> Keyring:
        kid = new_kid()
        return Keyring(primary=kid, keys={**self.keys, kid: secrets.token_bytes(KEY_BYTES)})

    def to_json(self) -> bytes:
        keys = {kid: base64.b64encode(key).decode() for kid, key in self.keys.items()}
        return json.dumps(
            {"version": KEYRING_VERSION, "primary": self.primary, "keys": keys}
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str, *, source: str) -> Keyring:
        try:
            document = parse_json_object(data, max_bytes=MAX_KEYRING)
            version = document.get("version", KEYRING_VERSION)
            if version != KEYRING_VERSION:
                raise KeyringError(
                    f"keyring format version {version!r}; this code reads {KEYRING_VERSION}"
                )
            keys = {kid: base64.b64decode(v, validate=True) for kid, v in document["keys"].items()}
            return cls(primary=document["primary"], keys=keys)
        except KeyringError as exc:
            raise KeyringError(f"{source}: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise KeyringError(
                f"{source}: not a keyring (expected JSON with 'primary' and base64 'keys')"
            ) from None


def new_kid() -> str:
    return "k" + secrets.token_hex(4)


def load_keyring_env(
    name: str, environ: Mapping[str, str], *, setting: str = "keyring_env"
) -> Keyring:
    """The keyring whose JSON is in the environment variable ``name``; a KeyringError that
    names ``setting`` (where the variable was configured) when it is not set."""
    value = environ.get(name)
    if not value:
        raise KeyringError(f"{setting}: environment variable {name} is not set")
    return Keyring.from_json(value, source=f"environment variable {name}")


def load_keyring_file(path: Path, *, create: bool) -> Keyring:
    """Read the keyring at ``path``. With ``create`` (the default path, which nobody
    configured) a missing one is generated (0600); a configured one that is missing, or any
    keyring file other users can read, is a KeyringError naming the path."""
    generate = Keyring.generate().to_json if create else None
    existed = path.exists()
    try:
        data = read_key_file(path, generate=generate)
    except KeyFileError as exc:
        raise KeyringError(str(exc)) from None
    if not existed:
        logger.info("generated a new encryption keyring at %s (mode 0600)", path)
    return Keyring.from_json(data, source=str(path))


def rotate_keyring_file(path: Path, *, create: bool) -> Keyring:
    """Add a new primary key to the keyring file, keeping the old keys for decryption. Under
    an exclusive lock: two rotations at once would otherwise both read the old ring and the
    second write would drop the first one's key."""
    make_private_folder(path.parent)
    lock = open_own_file(path.with_name(f".{path.name}.lock"), create=True)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rotated = load_keyring_file(path, create=create).with_new_primary()
        write_atomic(path, rotated.to_json(), mode=0o600)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    return rotated
