"""Client secrets from the environment, as topology.yaml names them (``ims.client_secret_env``).

The :class:`~tokensim_token.secrets.Secret` type itself is the token library's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tokensim_token.secrets import Secret

from core.errors import MissingSecretError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
