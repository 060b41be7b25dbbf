"""Tokens at rest: AES-256-GCM, fresh nonces, bound to the node, tamper-evident, rotatable."""

from __future__ import annotations

import base64
import json
import logging
import stat
import threading
from pathlib import Path

import pytest
from tokensim_token import EncryptedTokenFile, Keyring, KeyringError, SavedToken, SealedDataError
from tokensim_token.files import write_atomic
from tokensim_token.keyring import load_keyring_file, rotate_keyring_file
from tokensim_token.sealing import open_sealed, seal
from tokensim_token.secrets import Secret

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"


def saved() -> SavedToken:
    return SavedToken(Secret(TOKEN), obtained_wall=1_790_000_000.0, lifetime=86399)


def test_nonces_are_unique_over_many_seals() -> None:
    keyring = Keyring.generate()
    nonces = {json.loads(seal(keyring, b"x", {"node": "p1"}))["nonce"] for _ in range(5000)}
    assert len(nonces) == 5000
    assert all(len(base64.b64decode(n)) == 12 for n in nonces)
    assert base64.b64encode(bytes(12)).decode() not in nonces  # never the all-zero IV


def test_round_trip_and_file_properties(tmp_path: Path) -> None:
    store = EncryptedTokenFile(tmp_path / "nodes" / "p1.token", Keyring.generate(), owner="p1")
    store.save(saved())
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    raw = store.path.read_bytes()
    assert TOKEN.encode() not in raw
    # No part of the JWT in clear. (Not "no b'eyJ' in it": base64 ciphertext contains those
    # three letters by chance once in ~370 seals.)
    assert not any(part.encode() in raw for part in TOKEN.split("."))
    loaded = store.load()
    assert loaded is not None
    assert loaded.value.reveal() == TOKEN
    assert loaded.lifetime == 86399
    assert not list(store.path.parent.glob("*.tmp"))  # atomic write left nothing behind


@pytest.mark.parametrize("field", ["ct", "nonce", "kid", "ctx"])
def test_any_tampering_is_rejected_and_the_file_discarded(
    tmp_path: Path, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    keyring = Keyring.generate()
    store = EncryptedTokenFile(tmp_path / "p1.token", keyring, owner="p1")
    store.save(saved())
    envelope = json.loads(store.path.read_bytes())
    if field in ("ct", "nonce"):
        raw = bytearray(base64.b64decode(envelope[field]))
        raw[0] ^= 0x01
        envelope[field] = base64.b64encode(bytes(raw)).decode()
    elif field == "kid":
        envelope["kid"] = "k-other"
    else:
        envelope["ctx"]["purpose"] = "something-else"
    store.path.write_text(json.dumps(envelope))
    with caplog.at_level(logging.WARNING):
        assert store.load() is None
    assert not store.path.exists()
    assert "discarding token file" in caplog.text
    assert TOKEN not in caplog.text


def test_garbage_file_is_a_cache_miss(tmp_path: Path) -> None:
    store = EncryptedTokenFile(tmp_path / "p1.token", Keyring.generate(), owner="p1")
    store.path.write_bytes(b"\x00\xffnot json")
    assert store.load() is None
    store.save(saved())  # and is replaced by the next save
    assert store.load() is not None


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 200_000,  # json.loads: RecursionError, not a ValueError
        b"{" * 60_000,
        b"x" * 5_000_000,  # huge
        bytes(range(256)) * 64,  # binary
        b"[]",
        b'"a string"',
        b'{"v": 1, "alg": "AES-256-GCM", "kid": "k", "ctx": {}, "nonce": 5, "ct": []}',
        b"",
    ],
    ids=["recursion", "deep-object", "huge", "binary", "list", "string", "shape", "empty"],
)
def test_a_hostile_token_file_is_a_cache_miss_with_one_warning(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = EncryptedTokenFile(tmp_path / "p1.token", Keyring.generate(), owner="p1")
    store.path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert store.load() is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "discarding token file" in warnings[0].getMessage()
    assert not store.path.exists()  # replaced by the next token


def test_another_nodes_file_is_rejected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keyring = Keyring.generate()
    p2 = EncryptedTokenFile(tmp_path / "p2.token", keyring, owner="p2")
    p2.save(saved())
    write_atomic(tmp_path / "p1.token", p2.path.read_bytes())
    p1 = EncryptedTokenFile(tmp_path / "p1.token", keyring, owner="p1")
    with caplog.at_level(logging.WARNING):
        assert p1.load() is None
    assert "sealed for node=p2" in caplog.text


def test_context_cannot_be_relabelled() -> None:
    keyring = Keyring.generate()
    envelope = json.loads(seal(keyring, b"secret", {"node": "p2"}))
    envelope["ctx"] = {"node": "p1"}  # claim it belongs to p1: the AAD no longer matches
    with pytest.raises(SealedDataError, match="altered"):
        open_sealed(keyring, json.dumps(envelope).encode(), {"node": "p1"})


def test_rotation_keeps_old_files_readable_and_reseals_them(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    old = load_keyring_file(path, create=True)
    store = EncryptedTokenFile(tmp_path / "p1.token", old, owner="p1")
    store.save(saved())
    new = rotate_keyring_file(path, create=False)
    assert new.primary != old.primary
    assert set(new.keys) == {old.primary, new.primary}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rotated_store = EncryptedTokenFile(store.path, new, owner="p1")
    assert rotated_store.load() is not None
    assert json.loads(store.path.read_bytes())["kid"] == new.primary  # re-sealed
    only_new = Keyring(primary=new.primary, keys={new.primary: new.keys[new.primary]})
    assert EncryptedTokenFile(store.path, only_new, owner="p1").load() is not None
    gone = Keyring.generate()
    store.save(saved())
    assert EncryptedTokenFile(store.path, gone, owner="p1").load() is None


def test_keyring_is_generated_once_even_by_concurrent_starters(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keyring.json"
    results: list[Keyring] = []
    threads = [
        threading.Thread(target=lambda: results.append(load_keyring_file(path, create=True)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({k.primary for k in results}) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bad_keyrings_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("not json")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="not a keyring"):
        load_keyring_file(path, create=True)
    path.write_text(
        json.dumps({"primary": "k2", "keys": {"k1": base64.b64encode(bytes(32)).decode()}})
    )
    with pytest.raises(KeyringError, match="primary key 'k2' is not in the keyring"):
        load_keyring_file(path, create=True)
    path.write_bytes(b"[" * 200_000)
    with pytest.raises(KeyringError, match=r"not a keyring|not a key file"):
        load_keyring_file(path, create=True)


def test_a_configured_keyring_that_is_missing_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "keyring.json"
    with pytest.raises(KeyringError, match=f"{path}: key file not found"):
        load_keyring_file(path, create=False)
    assert not path.exists()  # nothing generated in its place
    with pytest.raises(KeyringError, match="key file not found"):
        rotate_keyring_file(path, create=False)
    assert not path.exists()


def test_a_keyring_other_users_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    load_keyring_file(path, create=True)
    path.chmod(0o644)
    with pytest.raises(KeyringError, match=r"mode 0644 lets other users read it; chmod 600"):
        load_keyring_file(path, create=True)


def test_rotations_at_once_keep_every_key(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = load_keyring_file(path, create=True)
    threads = [
        threading.Thread(target=lambda: rotate_keyring_file(path, create=False)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = load_keyring_file(path, create=False)
    assert len(final.keys) == 1 + 8  # no rotation lost another's key
    assert first.primary in final.keys


def test_reprs_never_show_secrets() -> None:
    keyring = Keyring.generate()
    secret = Secret(TOKEN)
    assert TOKEN not in repr(secret) + str(secret) + repr(saved())
    key_b64 = base64.b64encode(keyring.keys[keyring.primary]).decode()
    assert key_b64 not in repr(keyring)
