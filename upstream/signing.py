"""The simulation's token-signing key, shared by IMS (signs) and Analytics (verifies).

It lives in a file under ``simulation.state_dir`` (mode 0600). Revoking every token issued so
far is a key rotation: IMS writes a new key, Analytics notices the file changed (one ``stat``
per verification) and tokens signed with the old key fail with 401 from then on.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from core.files import create_exclusive, write_atomic
from core.topology import Topology


def _new_key() -> bytes:
    kid = "ims-" + secrets.token_hex(4)
    return json.dumps(
        {"kid": kid, "key": base64.b64encode(secrets.token_bytes(32)).decode()}
    ).encode()


class SigningKeys:
    def __init__(self, path: Path) -> None:
        self._path = path
        create_exclusive(path, _new_key())
        self._seen: tuple[int, int] | None = None
        self._kid = ""
        self._key = b""
        self._reload_if_changed()

    @property
    def path(self) -> Path:
        return self._path

    def current(self) -> tuple[str, bytes]:
        self._reload_if_changed()
        return self._kid, self._key

    def key_for(self, kid: str) -> bytes | None:
        current_kid, key = self.current()
        return key if kid == current_kid else None

    def rotate(self) -> str:
        write_atomic(self._path, _new_key(), mode=0o600)
        self._reload_if_changed()
        return self._kid

    def _reload_if_changed(self) -> None:
        info = os.stat(self._path)
        seen = (info.st_ino, info.st_mtime_ns)
        if seen == self._seen:
            return
        document = json.loads(self._path.read_bytes())
        self._kid = document["kid"]
        self._key = base64.b64decode(document["key"])
        self._seen = seen


def signing_keys_for(topology: Topology) -> SigningKeys:
    """The signing key file of the simulation described by ``topology``."""
    return SigningKeys(Path(topology.simulation.state_dir) / "signing-key.json")
