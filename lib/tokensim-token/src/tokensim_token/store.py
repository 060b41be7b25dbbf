"""The node's token on disk: sealed with the keyring, bound to the node, written atomically.

An unreadable, tampered or foreign file is a cache miss: logged with the reason, removed, and
replaced by the next token the node gets. It is never trusted and never crashes the node.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tokensim_token.errors import SealedDataError, UnsafePathError
from tokensim_token.files import make_private_folder, read_own_file, write_atomic
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.keyring import Keyring
from tokensim_token.sealing import MAX_SEALED, open_sealed, seal
from tokensim_token.secrets import Secret

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SavedToken:
    """A token as persisted: wall-clock time it was obtained and its lifetime in seconds."""

    value: Secret
    obtained_wall: float
    lifetime: float


class EncryptedTokenFile:
    """One node's token file, e.g. ``.state/nodes/p1.token``."""

    def __init__(self, path: Path, keyring: Keyring, *, owner: str) -> None:
        make_private_folder(path.parent)  # UnsafePathError: a folder that is not ours
        self.path = path
        self._keyring = keyring
        self._context = {"node": owner, "purpose": "access-token"}

    def save(self, token: SavedToken) -> None:
        sealed = seal(self._keyring, serialize_saved(token), self._context)
        write_atomic(self.path, sealed, mode=0o600)

    def load(self) -> SavedToken | None:
        """The saved token, or None when there is none or it cannot be trusted."""
        try:
            data = read_own_file(self.path, MAX_SEALED)  # enough to tell: never a huge read
        except UnsafePathError as exc:
            self._discard(str(exc).removeprefix(f"{self.path}: "))
            return None
        except OSError as exc:
            self._discard(f"cannot be read ({exc.strerror})")
            return None
        if data is None:
            return None
        try:
            plaintext, kid = open_sealed(self._keyring, data, self._context)
            token = parse_saved(plaintext)
        except SealedDataError as exc:
            self._discard(str(exc))
            return None
        if kid != self._keyring.primary:
            logger.info("token file %s re-sealed with the new primary key", self.path)
            self.save(token)
        return token

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _discard(self, reason: str) -> None:
        logger.warning("discarding token file %s: %s", self.path, reason)
        self.discard()


def serialize_saved(token: SavedToken) -> bytes:
    """The plaintext that gets sealed (never written anywhere unsealed)."""
    return json.dumps(
        {
            "access_token": token.value.reveal(),
            "obtained_at": token.obtained_wall,
            "lifetime": token.lifetime,
        }
    ).encode()


def parse_saved(plaintext: bytes) -> SavedToken:
    try:
        document = parse_json_object(plaintext, max_bytes=len(plaintext))
        return SavedToken(
            value=Secret(str(document["access_token"])),
            obtained_wall=float(document["obtained_at"]),
            lifetime=float(document["lifetime"]),
        )
    except (ValueError, KeyError, TypeError):
        raise SealedDataError("decrypted, but not a saved token") from None
