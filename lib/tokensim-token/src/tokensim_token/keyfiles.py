"""Key files: read only when they are private; generated only where nobody configured a path.

A key file that topology.yaml names and that is missing is an error, never silently replaced by
a new key: the nodes of a shared or replicated cluster would then each seal with a key of their
own and quietly fail to read one another's tokens. Only a default path (one nobody configured)
is generated, with mode 0600, by the first process that gets there. A key file that its group or
others can read or write, that another user owns, or that is not a regular file reached without
a symbolic link is refused: someone else may have it (:func:`~tokensim_token.files.read_own_file`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tokensim_token.errors import KeyFileError, UnsafePathError
from tokensim_token.files import create_exclusive, read_own_file

MAX_KEY_FILE = 64 * 1024


def read_key_file(path: Path, *, generate: Callable[[], bytes] | None) -> bytes:
    """The contents of the key file at ``path``. When it is missing, ``generate`` makes one
    (0600) if given, else it is an error."""
    try:
        if generate is not None and not path.exists() and create_exclusive(path, generate()):
            pass  # created here; another process may have won the race: read whichever won
        data = read_own_file(path, MAX_KEY_FILE, what="key file")
    except UnsafePathError as exc:
        raise KeyFileError(str(exc)) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror})") from None
    if data is None:
        raise KeyFileError(
            f"{path}: key file not found (it is configured, so it is not "
            "generated: copy the cluster's key file there)"
        )
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: larger than {MAX_KEY_FILE} bytes: not a key file")
    return data
