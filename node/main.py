"""Run one publisher node: resolve secrets and keys from the environment, then serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from tokensim_token import Keyring, KeyringError
from tokensim_token.errors import UnsafePathError
from tokensim_token.files import make_private_folder
from tokensim_token.keyring import load_keyring_env, load_keyring_file

from core.errors import MissingSecretError, PortInUseError
from core.logs import configure_logging
from core.secrets import secrets_from_env
from core.service import serve
from core.topology import Topology, TopologyError
from node.app import NodeDeps, create_app
from node.errors import NodeStartupError

logger = logging.getLogger(__name__)


def load_keyring(topology: Topology, environ: Mapping[str, str]) -> Keyring:
    token = topology.token
    if token.key_env:
        return load_keyring_env(token.key_env, environ, setting="token.key_env")
    return load_keyring_file(token.keyring_path, create=token.key_file is None)


def run(topology: Topology, node_id: str, environ: Mapping[str, str], log_level: str) -> None:
    """Serve node ``node_id`` until SIGTERM. Raises NodeStartupError for bad set-up."""
    try:
        publisher = topology.publisher(node_id)
        # author-report: the author holds the only client secret; a publisher holds none
        secrets = (
            ()
            if topology.analytics.published
            else secrets_from_env(
                topology.ims.client_secret_env, environ, key_path="ims.client_secret_env"
            )
        )
        configure_logging(node_id, log_level, secrets)
        make_private_folder(Path(topology.token.state_dir))  # the node's own, or refused
        keyring = load_keyring(topology, environ)
        store = topology.token.store
        store_password = (
            secrets_from_env([store.password_env], environ, key_path="token.store.password_env")[0]
            if store.password_env
            else None
        )
    except (TopologyError, MissingSecretError, KeyringError, UnsafePathError) as exc:
        raise NodeStartupError(str(exc)) from None
    deps = NodeDeps(secrets=secrets, keyring=keyring, store_password=store_password)
    app = create_app(topology, node_id, deps)
    try:
        asyncio.run(
            serve(
                app, host=publisher.host, port=publisher.port, drain=publisher.drain, name=node_id
            )
        )
    except PortInUseError as exc:
        raise NodeStartupError(str(exc)) from None
