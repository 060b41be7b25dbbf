"""Typed secrets: values that must never reach a log line, a repr or an exception message."""

from __future__ import annotations

import hmac


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
