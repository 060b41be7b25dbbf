"""The edge's exceptions::

EdgeError
├── CookieKeyError    the sticky cookie key is missing or not 32 bytes of base64 (at start)
├── EngineError       the haproxy engine was asked for but cannot run
└── BackendClosed     (also a ConnectionError) a target closed or broke a connection
                      before a whole reply arrived; ``replied`` says if any byte came
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of the edge's errors."""


class CookieKeyError(EdgeError):
    """The cookie key is missing or not 32 bytes of base64."""


class EngineError(EdgeError):
    """The haproxy engine was asked for but haproxy is not installed or refuses the config."""


class BackendClosed(EdgeError, ConnectionError):
    """The target closed the connection (or it failed) before a whole reply arrived."""

    def __init__(self, message: str, *, replied: bool) -> None:
        super().__init__(message)
        self.replied = replied  # some bytes of a reply had arrived: never send again
