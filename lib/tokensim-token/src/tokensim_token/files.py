"""Atomic writes for files that hold secrets (botocore ``JSONFileCache`` does the same)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a half.

    The temporary file is created in the same folder with ``mode`` already set (no window in
    which the secret is world-readable), fsynced, then renamed over ``path``.
    """
    tmp = _write_temp(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(path.parent)


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) for files that hold secrets: the folder itself is
    0700, so only its owner may list or enter it. An existing folder is left as it is."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_exclusive(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` with ``data`` only if it does not exist yet; return whether we did.

    Several processes starting at once may all try to create the same key file: the first
    one wins (``os.link`` fails if the name exists) and the others read the winner's file.
    """
    tmp = _write_temp(path, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _remove(tmp)
    _fsync_dir(path.parent)
    return True


def _write_temp(path: Path, data: bytes, mode: int) -> str:
    """A fully written, fsynced temporary file beside ``path``, created with ``mode``."""
    make_private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
