"""The building blocks of topology.yaml's models: the base model, the field types people
write (durations, sizes, ports, ids, environment variable names) and the errors.

Errors: :class:`core.errors.TopologyError` (in the core's tree) when the file cannot be used;
:class:`KeyPathError` (a ValueError) for a cross-field problem, raised inside validation and
attached to the key path it concerns, which becomes part of the TopologyError's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

from core.durations import parse_duration
from core.secrets import ENV_NAME
from core.sizes import parse_size


class KeyPathError(ValueError):
    """A cross-field problem found after parsing, attached to the key path it concerns."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[type[KeyPathError], tuple[str, str]]:
        return (KeyPathError, (self.path, str(self)))  # it crosses to worker processes


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)?$"},
            ],
            "description": "A duration: 30s, 5m, 24h, 250ms; a bare number is seconds.",
        }
    ),
]
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\d+\s*([KkMm][Ii]?)?[Bb]?$"},
            ],
            "description": "A size: 16KB, 64KiB, 1MB; a bare number is bytes.",
        }
    ),
]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Port = Annotated[int, Field(ge=1, le=65535)]
ServiceId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
EnvName = Annotated[str, Field(pattern=ENV_NAME.pattern)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


EnvNames = Annotated[tuple[EnvName, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


class Model(BaseModel):
    """Base of every config object: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def evolve(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated as the original was (``model_copy`` would not
        validate: a wrong type or a port used twice would go unnoticed)."""
        return type(self).model_validate({**dict(self), **changes})


def _resolve_path(value: str | None, info: ValidationInfo) -> str | None:
    """Relative paths in topology.yaml are relative to the file's own folder."""
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or base is None else Path(base) / path)


# --- the real-world endpoints the node talks to --------------------------------------------
