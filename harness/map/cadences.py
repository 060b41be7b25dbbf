"""A report cadence in words and on the command line: ``0`` or ``page`` (every page load),
``1m``, ``30m``. Kept apart from the cells so that parsing a command line imports no
simulation."""

from __future__ import annotations

from core.durations import format_duration, parse_duration


def cadence_label(cadence: float) -> str:
    return "per page load" if cadence <= 0 else f"every {format_duration(cadence)}"


def parse_cadences(text: str) -> tuple[float, ...]:
    """``0,1m,30m`` (0 or ``page``: every page load); ValueError naming the bad one."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        out.append(0.0 if part in {"page", "0"} else parse_duration(part))
    if not out:
        raise ValueError("no cadence given")
    return tuple(out)
