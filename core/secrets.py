"""Typed secrets: values that must never reach a log line, a repr or an exception message."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence

from core.errors import MissingSecretError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Secret:
    """A string that hides itself.

    ``repr()`` and ``str()`` give ``'**********'``; :meth:`reveal` is the one way to the value,
    so every place that needs the clear text is easy to find (``git grep reveal``).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def secrets_from_env(
    names: Sequence[str], environ: Mapping[str, str], *, key_path: str
) -> tuple[Secret, ...]:
    """Read the secrets named by ``names`` from ``environ``, in order, skipping unset ones.

    Several names support rotation (an Adobe credential may hold several client secrets at
    once). Raises :class:`MissingSecretError` naming ``key_path`` when none is set.
    """
    found = tuple(Secret(environ[name]) for name in names if environ.get(name))
    if not found:
        listed = ", ".join(names)
        raise MissingSecretError(f"{key_path}: none of the environment variables {listed} is set")
    return found
