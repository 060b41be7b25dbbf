"""Logging set-up with redaction: a token or secret that slips into a log line is masked.

Code never logs token values (it logs fingerprints); this is the second line of defence, and
the one place that lists what to redact (google-auth keeps a ``_SENSITIVE_FIELDS`` set too).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from core.secrets import Secret

SENSITIVE_FIELDS = ("access_token", "client_secret", "refresh_token", "id_token", "token")
MASK = "**********"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(\bbearer[ \t]+)[^\s\"',;]+")
# Each field also as camelCase or with a hyphen (accessToken, client-secret): ``_?`` and
# ``-?`` between the words, case-insensitive.
_FIELDS = "|".join(f.replace("_", "[_-]?") for f in SENSITIVE_FIELDS)
_FIELD = re.compile(rf"(?i)((?<![A-Za-z0-9_])(?:{_FIELDS})[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}}]+")


def redact(text: str, secrets: Iterable[Secret] = ()) -> str:
    """Mask JWTs, bearer credentials, sensitive fields and the given secrets in ``text``."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= 6:
            text = text.replace(value, MASK)
    text = _JWT.sub(MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _FIELD.sub(lambda m: m.group(1) + MASK, text)


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
