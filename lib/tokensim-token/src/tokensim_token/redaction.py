"""Redaction: a token or secret that slips into text is masked.

Code never logs token values (it logs fingerprints); this is the second line of defence, and
the one place that lists what to redact (google-auth keeps a ``_SENSITIVE_FIELDS`` set too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tokensim_token.secrets import Secret

SENSITIVE_FIELDS = ("access_token", "client_secret", "refresh_token", "id_token", "token")
MASK = "**********"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# A credential's characters: RFC 6750's b64token (letters, digits, - . _ ~ + /, then = padding)
# and %-escapes. Whatever follows it (a ``;``, a bracket, HTML, the next word) is kept.
_VALUE = r"((?:[A-Za-z0-9._~+/-]|%[0-9A-Fa-f]{2})+=*)"
_BEARER = re.compile(rf"(?i)(\bbearer[ \t]+){_VALUE}")
# Each field also as camelCase or with a hyphen (accessToken, client-secret): ``_?`` and
# ``-?`` between the words, case-insensitive.
_FIELDS = "|".join(f.replace("_", "[_-]?") for f in SENSITIVE_FIELDS)
_FIELD = re.compile(rf"(?i)((?<![A-Za-z0-9_])(?:{_FIELDS})[\"']?\s*[:=]\s*[\"']?){_VALUE}")
_WORD = re.compile(r"[a-z]{1,20}")  # "token: missing", "bearer token": words, not credentials


def redact(text: str, secrets: Iterable[Secret] = ()) -> str:
    """Mask JWTs, bearer credentials, sensitive fields and the given secrets in ``text``."""
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= 6:
            text = text.replace(value, MASK)
    text = _JWT.sub(MASK, text)
    text = _BEARER.sub(_masked, text)
    return _FIELD.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    """The label kept, the value masked, unless the value is a plain lower-case word."""
    if _WORD.fullmatch(match.group(2)):
        return match.group(0)
    return match.group(1) + MASK
