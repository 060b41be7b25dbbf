"""Guards found by mutation testing and kept as tests of behaviour: keyring."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from tokensim_token.errors import KeyringError
from tokensim_token.files import write_atomic
from tokensim_token.keyring import Keyring, load_keyring_env, load_keyring_file, rotate_keyring_file
from tokensim_token.sealing import open_sealed, seal

from lb.cookies import load_cookie_key
from lb.errors import CookieKeyError

KEY = bytes(range(32))


def test_a_keyring_from_the_environment_opens_what_the_file_keyring_sealed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys" / "keyring.json"
    with caplog.at_level(logging.INFO, logger="tokensim_token.keyring"):
        made = load_keyring_file(path, create=True)
        assert path.stat().st_mode & 0o777 == 0o600
        again = load_keyring_file(path, create=True)  # read back, not generated again
    assert [r.getMessage() for r in caplog.records] == [
        f"generated a new encryption keyring at {path} (mode 0600)"
    ]
    environ = {"TOKENSIM_KEYRING": path.read_text()}
    from_env = load_keyring_env("TOKENSIM_KEYRING", environ)
    sealed = seal(made, b"a-token-value", {"node": "p1"})
    for ring in (again, from_env):
        assert open_sealed(ring, sealed, {"node": "p1"})[0] == b"a-token-value"
    with pytest.raises(KeyringError, match=r"token\.key_env: environment variable NOPE is not set"):
        load_keyring_env("NOPE", {}, setting="token.key_env")
    with pytest.raises(KeyringError, match="configured, so it is not generated"):
        load_keyring_file(tmp_path / "elsewhere.json", create=False)


def test_a_rotation_keeps_old_keys_and_its_files_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "folder" / "keyring.json"  # folders made as needed
    first = rotate_keyring_file(path, create=True)
    second = rotate_keyring_file(path, create=True)
    sealed = seal(first, b"old-token", {"node": "p1"})
    assert open_sealed(second, sealed, {"node": "p1"})[0] == b"old-token"
    assert load_keyring_file(path, create=False).to_json() == second.to_json()
    for file in path.parent.iterdir():  # the keyring and its lock file
        assert file.stat().st_mode & 0o777 == 0o600, file.name
    assert path.parent.stat().st_mode & 0o777 == 0o700  # and the folder made for them


def test_a_key_with_stray_characters_is_refused_not_silently_cleaned() -> None:
    # A lenient decoder drops the stray characters and still finds 32 bytes: a damaged key
    # file would then load as if nothing were wrong.
    encoded = base64.b64encode(KEY).decode()
    stray = encoded[:10] + "!*" + encoded[10:]
    with pytest.raises(CookieKeyError, match="not base64"):
        load_cookie_key("LBKEY", Path("unused"), {"LBKEY": stray})
    document = json.dumps({"version": 1, "primary": "k1", "keys": {"k1": stray}})
    with pytest.raises(KeyringError, match="not a keyring"):
        Keyring.from_json(document, source="test")


def test_a_keyring_says_its_format_and_another_format_is_refused(tmp_path: Path) -> None:
    ring = Keyring.generate()
    assert json.loads(ring.to_json())["version"] == 1
    assert Keyring.from_json(ring.to_json(), source="test").to_json() == ring.to_json()
    newer = json.dumps({**json.loads(ring.to_json()), "version": 2})
    path = tmp_path / "keyring.json"
    write_atomic(path, newer.encode())
    with pytest.raises(KeyringError, match=r"keyring\.json: keyring format version 2"):
        load_keyring_file(path, create=False)
    write_atomic(path, b"{not json")
    with pytest.raises(KeyringError, match=r"keyring\.json: not a keyring"):
        load_keyring_file(path, create=False)


def test_a_generated_keyring_is_logged_once_and_a_loaded_one_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keyring.json"
    caplog.set_level(logging.INFO, logger="tokensim_token.keyring")
    first = load_keyring_file(path, create=True)
    assert caplog.text.count("generated a new encryption keyring") == 1  # when it was made
    assert load_keyring_file(path, create=True).to_json() == first.to_json()
    assert caplog.text.count("generated a new encryption keyring") == 1  # not when it is read


def test_a_keyring_with_a_key_that_is_not_base64_is_refused() -> None:
    document = json.dumps({"version": 1, "primary": "k1", "keys": {"k1": "bm90 a2V5$$"}})
    with pytest.raises(KeyringError):
        Keyring.from_json(document, source="test")
