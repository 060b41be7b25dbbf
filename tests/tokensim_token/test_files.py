"""Guards found by mutation testing and kept as tests of behaviour: files."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import pytest
from tokensim_token.files import write_atomic


def test_a_reader_racing_repeated_saves_always_sees_a_whole_file(tmp_path: Path) -> None:
    """Sealed tokens and keyrings are rewritten while other processes read them: every read
    sees one complete version (never empty, never a mix), and the file stays 0600."""
    path = tmp_path / "token.json"
    versions = [bytes([65 + i]) * (256 * 1024) for i in range(8)]  # big enough to tear
    write_atomic(path, versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def save() -> None:
        i = 0
        while not stop.is_set():
            write_atomic(path, versions[i % len(versions)])
            i += 1

    writer = threading.Thread(target=save)
    writer.start()
    try:
        for _ in range(20_000):  # bounded; stops once the saves have visibly raced the reads
            seen.append(path.read_bytes())
            if len(seen) >= 400 and len(set(seen)) >= 3:
                break
    finally:
        stop.set()
        writer.join()
    assert all(data in versions for data in seen)
    assert len(set(seen)) > 1  # the saves did race the reads
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]  # no temporary left


def test_a_save_never_uses_the_system_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is made beside the target: a TMPDIR on another filesystem (where the
    final rename would fail) or one that does not exist (a hardened container) changes
    nothing, and a reader of the target's folder never sees a secret half written elsewhere."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    path = tmp_path / "state" / "token.json"
    write_atomic(path, b"sealed")
    assert path.read_bytes() == b"sealed"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]


def test_a_secret_file_in_a_new_folder_gets_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nodes" / "p1.token"
    write_atomic(path, b"sealed")
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["p1.token"]  # no temporary left behind
