"""Key files: read only when they are private; generated only where nobody configured a path.

A key file that topology.yaml names and that is missing is an error, never silently replaced by
a new key: the nodes of a shared or replicated cluster would then each seal with a key of their
own and quietly fail to read one another's tokens. Only a default path (one nobody configured)
is generated, with mode 0600, by the first process that gets there. A key file that its group or
others can read or write is refused: someone else may have it.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from tokensim_token.errors import KeyFileError
from tokensim_token.files import create_exclusive

MAX_KEY_FILE = 64 * 1024


def read_key_file(path: Path, *, generate: Callable[[], bytes] | None) -> bytes:
    """The contents of the key file at ``path``. When it is missing, ``generate`` makes one
    (0600) if given, else it is an error."""
    if generate is not None and not path.exists() and create_exclusive(path, generate()):
        pass  # created here; another process may have won the race: read whichever file won
    try:
        info = path.stat()
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: key file not found (it is configured, so it is not "
            "generated: copy the cluster's key file there)"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: key file mode {stat.S_IMODE(info.st_mode):04o} lets other users read it; "
            f"chmod 600 {path}"
        )
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: larger than {MAX_KEY_FILE} bytes: not a key file")
    return data
