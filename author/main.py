"""Run the author: its client secret and keyring from the environment, then serve."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from tokensim_token import KeyringError
from tokensim_token.errors import UnsafePathError
from tokensim_token.files import make_private_folder

from author.app import create_app
from core.errors import MissingSecretError, PortInUseError
from core.logs import configure_logging
from core.secrets import secrets_from_env
from core.service import serve
from core.topology import Topology
from node.main import load_keyring
from node.token.strategies import TokenDeps


class AuthorStartupError(Exception):
    """The author cannot start: no author section, no secret, a bad keyring or state folder."""


def run(topology: Topology, environ: Mapping[str, str], log_level: str) -> None:
    author = topology.author
    if author is None:
        raise AuthorStartupError("author: topology.yaml has no author section")
    try:
        secrets = secrets_from_env(
            topology.ims.client_secret_env, environ, key_path="ims.client_secret_env"
        )
        configure_logging(author.id, log_level, secrets)
        make_private_folder(Path(topology.token.state_dir))
        keyring = load_keyring(topology, environ)
    except (MissingSecretError, KeyringError, UnsafePathError) as exc:
        raise AuthorStartupError(str(exc)) from None
    app = create_app(topology, TokenDeps(secrets=secrets, keyring=keyring))
    try:
        asyncio.run(serve(app, host=author.host, port=author.port, name=author.id))
    except PortInUseError as exc:
        raise AuthorStartupError(str(exc)) from None
