"""Logging set-up: one line per record, redacted, control characters escaped.

Code never logs token values (it logs fingerprints); redaction (:mod:`tokensim_token.redaction`)
is the second line of defence, applied here to every line a service writes. Strings that come
from peers (headers, replication envelopes, exception texts) end up in log lines too, so every
control character is escaped here, in one place: a newline in a peer's string cannot forge a
log line (a traceback becomes one line, its newlines written ``\n``). And aiohttp's report of a
malformed request, which quotes the offending header (an Authorization header included), is
cut to its status and kind: header values are never logged.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from aiohttp.http_exceptions import HttpProcessingError
from tokensim_token.redaction import redact
from tokensim_token.secrets import Secret

# C0 controls but tab, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group()) or _code(ord(m.group())), text)


def _code(point: int) -> str:
    return f"\\x{point:02x}" if point <= 0xFF else f"\\u{point:04x}"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the whole line (tracebacks included) and escapes its
    control characters: one record, one line."""

    def __init__(self, fmt: str, secrets: Iterable[Secret] = ()) -> None:
        super().__init__(fmt)
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(redact(super().format(record), self._secrets))


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request it cannot parse at ERROR with a traceback whose message quotes
    the offending bytes (a header's value, credentials included): keep the event, drop the
    bytes. One WARNING line: ``Error handling request from 1.2.3.4: LineTooLong (400)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"{record.getMessage()}: {type(exc).__name__} ({exc.code})"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(service_id: str, level: str = "INFO", secrets: Iterable[Secret] = ()) -> None:
    """Send this process's logs to stderr, one line each, prefixed with the service id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MalformedRequestFilter())
    handler.setFormatter(
        RedactingFormatter(
            f"%(asctime)s %(levelname)-7s {service_id} %(name)s: %(message)s", secrets
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger(__name__).debug("logging at %s", level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
