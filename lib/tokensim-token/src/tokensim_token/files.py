"""Files that hold secrets: atomic writes (botocore ``JSONFileCache`` does the same) and the
checks made before a folder or file is trusted (OpenSSH's StrictModes, GnuPG's "unsafe
permissions" and Vault Agent's sink checks do the same).

A folder or file is the service's own when it is owned by the service's user (or root) and
nobody else can write it; a file must also be a regular file, reached without following a
symbolic link, opened without blocking (a named pipe planted there would hang a plain open)
and read with a bound.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from tokensim_token.errors import UnsafePathError

# Opening a file that holds or guards a secret: never through a symbolic link, never blocking
# on a FIFO, never inherited by a child process.
OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


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
    """Create ``folder`` for files that hold secrets, and every missing parent, each 0700, so
    only their owner may list or enter them. An existing folder is used only when it is the
    service's own (:func:`check_own_folder`); otherwise :class:`UnsafePathError`."""
    missing = []
    at = folder
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            path.mkdir(mode=0o700)
    check_own_folder(folder)


def check_own_folder(folder: Path) -> None:
    """Raise :class:`UnsafePathError` unless ``folder`` is a folder owned by this service's
    user (or root) that nobody else can write."""
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise UnsafePathError(f"{folder}: cannot use the folder ({exc.strerror})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{folder}: not a folder ({_kind(info.st_mode)})")
    _check_owner_and_mode(folder, info, "folder", OTHERS_WRITE)


def open_own_file(
    path: Path, *, create: bool = False, private: bool = True, what: str = "file"
) -> int:
    """A file descriptor of ``path`` (read-write when ``create``), opened without following a
    symbolic link and without blocking, after checking that it is a regular file owned by
    this service's user (or root) that others cannot write (``private``: nor read). The
    caller closes it. Raises FileNotFoundError when it is missing (and not ``create``),
    :class:`UnsafePathError` when it is not the service's own."""
    flags = OPEN_FLAGS | (os.O_CREAT | os.O_RDWR if create else os.O_RDONLY)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePathError(f"{path}: a symbolic link; refused (remove it)") from None
        raise UnsafePathError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{path}: not a regular file ({_kind(info.st_mode)}); refused")
        others = stat.S_IRWXG | stat.S_IRWXO if private else OTHERS_WRITE
        _check_owner_and_mode(path, info, what, others)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_own_file(
    path: Path, max_bytes: int, *, private: bool = True, what: str = "file"
) -> bytes | None:
    """The first ``max_bytes + 1`` bytes of ``path`` (one more than allowed, so the caller can
    tell a file that is too large), or None when it does not exist. The checks of
    :func:`open_own_file` first."""
    try:
        fd = open_own_file(path, private=private, what=what)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check_owner_and_mode(path: Path, info: os.stat_result, what: str, refused: int) -> None:
    owner = info.st_uid
    mode = stat.S_IMODE(info.st_mode)
    if owner not in (os.geteuid(), 0):
        raise UnsafePathError(
            f"{path}: {what} owned by uid {owner}, not by this service's user "
            f"(uid {os.geteuid()}), mode {mode:04o}; refused"
        )
    if mode & refused:
        raise UnsafePathError(
            f"{path}: {what} mode {mode:04o} lets other users "
            f"{'write' if mode & refused & OTHERS_WRITE else 'read'} it; "
            f"chmod {'700' if what == 'folder' else '600'} {path}"
        )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


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
