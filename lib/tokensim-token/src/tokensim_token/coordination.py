"""Who keeps the token and who may call the token endpoint: the part strategies differ in.

The refreshing provider (:mod:`tokensim_token.refreshing`) asks its coordinator before and after
every token call:

* ``load()``: the newest token known outside this process (a node's own file after a restart;
  the cluster's store, possibly refreshed by another node). A newer one is adopted: no call.
* ``claim()``: may this node call the token endpoint now? Always for ``per-node``; for
  ``shared`` only the holder of the store's lease, so one node refreshes for the cluster.
* ``publish()`` / ``release()``: keep the new token and give the claim back.
* ``on_change(listener)``: a coordinator that is told of newer tokens (a follower that
  receives pushes) calls ``listener`` then; the others never call it.
* ``refusing_for()``: after ``claim()`` said no, for how many seconds it will go on saying no
  unless ``listener`` is called first. 0 when it cannot tell (another node's lease may lapse
  at any moment): the provider then looks again every ``peer_poll``. A follower that is pushed
  its tokens can tell: until its token reaches the margin. Without it, fifty followers looked
  once a second each through every IMS outage of a week (1.2 M looks that changed nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from tokensim_token.errors import SealedDataError
from tokensim_token.keyring import Keyring
from tokensim_token.sealing import open_sealed, seal
from tokensim_token.store import EncryptedTokenFile, SavedToken, parse_saved, serialize_saved

logger = logging.getLogger(__name__)


class Coordinator(Protocol):
    strategy: str

    async def load(self) -> SavedToken | None: ...

    async def claim(self) -> bool: ...

    async def publish(self, token: SavedToken) -> None: ...

    async def release(self) -> None: ...

    async def discard(self, token: SavedToken) -> None: ...

    async def close(self) -> None: ...

    def on_change(self, listener: Callable[[], None]) -> None: ...

    def refusing_for(self) -> float: ...


class OwnFile:
    """``per-node``: the node's own sealed file; it may always call the token endpoint."""

    strategy = "per-node"

    def __init__(self, store: EncryptedTokenFile) -> None:
        self._store = store

    async def load(self) -> SavedToken | None:
        return self._store.load()

    async def claim(self) -> bool:
        return True

    async def publish(self, token: SavedToken) -> None:
        try:
            self._store.save(token)
        except OSError as exc:
            logger.warning("could not save the token to %s: %s", self._store.path, exc)

    async def release(self) -> None:
        return None

    async def discard(self, token: SavedToken) -> None:
        self._store.discard()

    async def close(self) -> None:
        return None

    def on_change(self, listener: Callable[[], None]) -> None:
        return None  # nobody else writes a node's own file

    def refusing_for(self) -> float:
        return 0.0  # it never refuses


class InMemory:
    """Nothing kept outside the process: a restarted node starts without a token. The node may
    always call the token endpoint."""

    def __init__(self, strategy: str = "in-memory") -> None:
        self.strategy = strategy

    async def load(self) -> SavedToken | None:
        return None

    async def claim(self) -> bool:
        return True

    async def publish(self, token: SavedToken) -> None:
        return None

    async def release(self) -> None:
        return None

    async def discard(self, token: SavedToken) -> None:
        return None

    async def close(self) -> None:
        return None

    def on_change(self, listener: Callable[[], None]) -> None:
        return None

    def refusing_for(self) -> float:
        return 0.0  # it never refuses


class SharedStore(Protocol):
    """Where a cluster keeps its one token: a sealed blob, and a lease with an expiry so that a
    crashed holder cannot block the others for longer than the lease."""

    async def get(self) -> bytes | None: ...

    async def put(self, blob: bytes) -> None: ...

    async def remove_if(self, blob: bytes) -> None: ...

    async def try_lease(self, owner: str, ttl: float) -> bool: ...

    async def release_lease(self, owner: str) -> None: ...

    async def close(self) -> None: ...


CLUSTER_CONTEXT = {"scope": "cluster", "purpose": "access-token"}


class SharedToken:
    """``shared``: one token for the cluster in a store; the lease holder refreshes it.

    The token is sealed with the cluster keyring, which is why every node must hold the same
    keys (sync the keyring file, or set the same ``token.key_env``, on every node).

    A store that does not answer (``OSError``, which the stores raise for I/O and server
    errors) is not allowed to take the cluster down: the node then refreshes on its own, as
    ``per-node`` would, logs once, and goes back to the store as soon as it answers.
    """

    strategy = "shared"

    def __init__(self, store: SharedStore, keyring: Keyring, *, owner: str, lease_ttl: float):
        self._store = store
        self._keyring = keyring
        self._owner = owner
        self._lease_ttl = lease_ttl
        self._store_down = False
        self._refused_blob: bytes | None = None  # the last value that could not be trusted
        # The last value opened, and what it held: followers read an unchanged store every
        # poll (a scheduled week at 50 publishers: 494,000 reads), one comparison each.
        self._opened: tuple[bytes, SavedToken] | None = None

    async def load(self) -> SavedToken | None:
        try:
            blob = await self._store.get()
        except OSError as exc:
            self._down(exc)
            return None
        self._up()
        if blob is None:
            return None
        opened = self._opened
        if opened is not None and opened[0] == blob:
            return opened[1]
        try:
            plaintext, _ = open_sealed(self._keyring, blob, CLUSTER_CONTEXT)
            saved = parse_saved(plaintext)
        except SealedDataError as exc:
            if blob != self._refused_blob:  # one line per bad value, not one per look at it
                logger.warning("ignoring the shared token: %s", exc)
                self._refused_blob = blob
            return None
        self._opened = (blob, saved)
        return saved

    async def claim(self) -> bool:
        try:
            return await self._store.try_lease(self._owner, self._lease_ttl)
        except OSError as exc:
            self._down(exc)
            return True  # degraded: refresh alone rather than leave the node without a token

    async def publish(self, token: SavedToken) -> None:
        try:
            await self._store.put(seal(self._keyring, serialize_saved(token), CLUSTER_CONTEXT))
            await self._store.release_lease(self._owner)
        except OSError as exc:
            self._down(exc)

    async def release(self) -> None:
        try:
            await self._store.release_lease(self._owner)
        except OSError as exc:
            self._down(exc)

    async def discard(self, token: SavedToken) -> None:
        """Drop the shared token only if it is still the one that was refused."""
        current = await self.load()
        if current is not None and current.value == token.value:
            try:
                blob = await self._store.get()
                if blob is not None:
                    await self._store.remove_if(blob)
            except OSError as exc:
                self._down(exc)

    async def close(self) -> None:
        await self._store.close()

    def on_change(self, listener: Callable[[], None]) -> None:
        return None  # peers' tokens are found by looking at the store (load)

    def refusing_for(self) -> float:
        return 0.0  # the holder's lease may lapse, or it may publish, at any moment

    def _down(self, exc: OSError) -> None:
        if not self._store_down:
            logger.error("shared token store unavailable (%s); refreshing on this node alone", exc)
        self._store_down = True

    def _up(self) -> None:
        if self._store_down:
            logger.info("shared token store answers again")
        self._store_down = False
