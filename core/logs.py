"""Logging set-up with redaction: a token or secret that slips into a log line is masked.

Code never logs token values (it logs fingerprints); redaction (:mod:`tokensim_token.redaction`)
is the second line of defence, applied here to every line a service writes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from tokensim_token.redaction import redact
from tokensim_token.secrets import Secret


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the whole line, tracebacks included."""

    def __init__(self, fmt: str, secrets: Iterable[Secret] = ()) -> None:
        super().__init__(fmt)
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def configure_logging(service_id: str, level: str = "INFO", secrets: Iterable[Secret] = ()) -> None:
    """Send this process's logs to stderr, one line each, prefixed with the service id."""
    handler = logging.StreamHandler(sys.stderr)
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
