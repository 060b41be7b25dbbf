"""Messages for a topology that does not validate: every problem, one per key path.

Unknown keys come first (a misspelt key is usually the cause of the other problems: the key it
was meant to be then looks "missing"), each with the closest valid key. The value that was
given is shown once, and only where the reason does not show it already.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from core.topology.fields import KeyPathError


def describe(exc: ValidationError, root: type[BaseModel]) -> str:
    """All the problems in ``exc``, unknown keys first, joined with ``; ``."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    messages: list[str] = []
    for error in errors:
        message = _message(error, root)
        if message not in messages:
            messages.append(message)
    return "; ".join(messages)


def _message(error: Any, root: type[BaseModel]) -> str:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyPathError):
        return f"{cause.path}: {cause}"
    loc = tuple(error["loc"])
    path = _format_loc(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key{_suggestion(root, loc)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    text = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    given = _short(error.get("input"))
    return f"{path}: {text}" if given in text else f"{path}: {text}, got {given}"


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not re.match(r"^[A-Za-z_][\w-]*$", str(part)):
            continue  # pydantic's internal tags (e.g. 'function-before[...]')
        else:
            out += f".{part}" if out else str(part)
    return out


def _suggestion(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Walk the models along ``loc`` to suggest the key that was probably meant."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = _model_of(field.annotation)
    known = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"


def _model_of(annotation: Any) -> Any:
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _model_of(arg) if getattr(arg, "__args__", None) else None
        if inner is not None:
            return inner
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
