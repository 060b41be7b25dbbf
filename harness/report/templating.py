"""The Jinja2 environment of the report's templates (``templates/``), with the filters the
prose uses to print numbers: ``thousands`` (``12,345``), ``thousands_int``, ``g`` (``1.5``,
``2``) and ``duration`` (``30m``)."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from core.durations import format_duration

TEMPLATES = Path(__file__).with_name("templates")


def thousands(value: float) -> str:
    return f"{value:,}"


def shortest(value: float) -> str:
    return f"{value:g}"


def thousands_int(value: float) -> str:
    return f"{round(value):,}"


@functools.cache
def environment(*, html: bool = False) -> jinja2.Environment:
    """One environment per kind of output: Markdown (not escaped) or HTML (escaped)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,  # noqa: S701 (Markdown is not HTML; the HTML one escapes)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = thousands
    env.filters["g"] = shortest
    env.filters["thousands_int"] = thousands_int
    env.filters["duration"] = format_duration
    return env
