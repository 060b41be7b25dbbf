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
