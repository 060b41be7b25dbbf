"""State the service did not make is refused: folders and files for secrets must be the
service's own (owner, mode, a regular file reached without a symbolic link), and every read
is bounded. What an attacker with a local account could plant, planted."""

from __future__ import annotations

import os
import pwd
import threading
from pathlib import Path

import pytest
from tokensim_token import Keyring, UnsafePathError
from tokensim_token.errors import KeyFileError
from tokensim_token.file_store import FileStore
from tokensim_token.files import make_private_folder, read_own_file, write_atomic
from tokensim_token.keyfiles import read_key_file
from tokensim_token.keyring import rotate_keyring_file
from tokensim_token.secrets import Secret
from tokensim_token.store import EncryptedTokenFile, SavedToken

ROOT = os.geteuid() == 0
OTHER_UID = pwd.getpwnam("nobody").pw_uid  # a real second user, not this service's


def _saved() -> SavedToken:
    return SavedToken(Secret("tok-abc"), obtained_wall=1.0, lifetime=86399.0)


def test_missing_parents_are_all_created_private(tmp_path: Path) -> None:
    make_private_folder(tmp_path / "state" / "sim" / "nodes")
    for name in ("state", "state/sim", "state/sim/nodes"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o700, name


def test_a_folder_others_can_write_is_refused_with_its_path_and_mode(tmp_path: Path) -> None:
    folder = tmp_path / "nodes"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(UnsafePathError) as caught:
        EncryptedTokenFile(folder / "p1.token", Keyring.generate(), owner="p1")
    assert str(folder) in str(caught.value)
    assert "0777" in str(caught.value)
    assert "write" in str(caught.value)


@pytest.mark.skipif(not ROOT, reason="giving a file to another user (nobody) needs root")
def test_a_folder_another_user_owns_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    os.chown(folder, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafePathError, match=f"uid {OTHER_UID}"):
        FileStore(folder, wall_clock=lambda: 0.0)


@pytest.mark.skipif(not ROOT, reason="giving a file to another user (nobody) needs root")
def test_a_key_file_another_user_owns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cluster.key"
    write_atomic(path, Keyring.generate().to_json())
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(KeyFileError, match=f"owned by uid {OTHER_UID}"):
        read_key_file(path, generate=None)


def test_a_symbolic_link_planted_as_a_key_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.key"
    write_atomic(real, Keyring.generate().to_json())
    (tmp_path / "cluster.key").symlink_to(real)
    with pytest.raises(KeyFileError, match="symbolic link"):
        read_key_file(tmp_path / "cluster.key", generate=None)


def test_a_symbolic_link_planted_where_a_lock_is_opened_is_refused(tmp_path: Path) -> None:
    """The keyring's rotation lock: a link to another file would make us create or lock it."""
    target = tmp_path / "victim"
    target.write_bytes(b"keep me")
    (tmp_path / ".keyring.json.lock").symlink_to(target)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        rotate_keyring_file(tmp_path / "keyring.json", create=True)
    assert target.read_bytes() == b"keep me"


async def test_the_shared_store_refuses_a_planted_lock_link(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store", wall_clock=lambda: 0.0)
    (tmp_path / "store" / "shared.lock").symlink_to(tmp_path / "victim")
    with pytest.raises(OSError, match="symbolic link"):  # the coordinator degrades on OSError
        await store.try_lease("p1", 30.0)
    assert not (tmp_path / "victim").exists()


def test_a_named_pipe_where_the_token_file_belongs_is_discarded_without_hanging(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "nodes"
    make_private_folder(folder)
    os.mkfifo(folder / "p1.token", 0o600)
    token_file = EncryptedTokenFile(folder / "p1.token", Keyring.generate(), owner="p1")
    result: list[SavedToken | None] = []
    reader = threading.Thread(target=lambda: result.append(token_file.load()), daemon=True)
    reader.start()
    reader.join(timeout=30)  # a blocking open of a FIFO would never return
    assert not reader.is_alive()
    assert result == [None]
    assert not (folder / "p1.token").exists()  # discarded: the next save writes a real file
    token_file.save(_saved())
    assert token_file.load() == _saved()


def test_a_token_file_others_can_read_is_discarded(tmp_path: Path) -> None:
    keyring = Keyring.generate()
    token_file = EncryptedTokenFile(tmp_path / "nodes" / "p1.token", keyring, owner="p1")
    token_file.save(_saved())
    token_file.path.chmod(0o644)
    assert token_file.load() is None
    assert not token_file.path.exists()


def test_reads_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big"
    write_atomic(path, b"x" * (1 << 20))
    assert len(read_own_file(path, 100) or b"") == 101  # one more: enough to tell
    assert read_own_file(tmp_path / "absent", 100) is None
