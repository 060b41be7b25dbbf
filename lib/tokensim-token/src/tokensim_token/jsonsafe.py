"""JSON from outside the process, read so that no input can crash the reader.

``json.loads`` of ``[`` repeated 200,000 times raises RecursionError, which is not a
ValueError and escapes the ``except ValueError`` around most parsing; a 2 GB file is read whole.
Everything that parses a file, a store value, a request or a reply we did not write this
instant goes through here: too large, too deep, not UTF-8, not JSON, or not an object is one
ValueError with a short reason.
"""

from __future__ import annotations

import json
from typing import Any


def parse_json(data: bytes | str, *, max_bytes: int) -> Any:
    """The JSON value in ``data``; ValueError if it is larger than ``max_bytes``, nests too
    deep for the parser (RecursionError), or is not JSON."""
    if len(data) > max_bytes:
        raise ValueError(f"{len(data)} bytes, more than the {max_bytes} accepted")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"not JSON ({type(exc).__name__})") from None


def parse_json_object(data: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    """Like :func:`parse_json`, and the value must be an object."""
    document = parse_json(data, max_bytes=max_bytes)
    if not isinstance(document, dict):
        raise ValueError(f"a JSON {type(document).__name__}, not an object")
    return document
