"""Sizes as people write them in topology.yaml: ``16KB``, ``64KiB``, ``1MB``, ``512B``.

A bare number means bytes. KB and KiB are both 1024 bytes (as AWS and HAProxy mean them), MB
and MiB 1024 * 1024. Values are returned as int bytes.
"""

from __future__ import annotations

import re

_UNITS = {"b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2}
_PATTERN = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib)?\s*$", re.IGNORECASE)


def parse_size(value: object) -> int:
    """Return ``value`` in bytes; raise ValueError with a readable message otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 16KB or 1MB, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        size = int(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]
    else:
        raise ValueError(f"expected a size like 16KB or 1MB, got {value!r}")
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size
