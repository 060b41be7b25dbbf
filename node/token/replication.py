"""The ``replicated`` strategy: the leader refreshes and pushes the sealed token to followers.

Modelled on content replication: the leader (one publisher, ``token.leader``) runs the normal
refreshing provider and, after each new token, pushes it sealed with the cluster keyring to
every follower, each push delayed by ``replication.lag`` and lost with probability
``replication.loss``. A follower uses the newest token it was pushed; when that token reaches
its expiry margin with nothing newer pushed, ``replication.fallback`` says what it does:
``fetch`` its own token (and keep using the leader's once a newer one arrives) or ``wait``
(and fail requests once the token has expired: the design's failure shows).

A follower that has no token at all (just started with none saved, or its token was refused)
asks the leader for its current one once, as a new instance syncs its content; otherwise it
relies on pushes, and adopts each pushed token as it arrives.

Both coordinators also keep the node's own sealed file, so a restart reuses a valid token.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from node.token.coordination import OwnFile
from node.token.errors import SealedDataError
from node.token.keyring import Keyring
from node.token.sealing import open_sealed, seal
from node.token.store import SavedToken, parse_saved, serialize_saved

logger = logging.getLogger(__name__)

REPLICATION_CONTEXT = {"scope": "cluster", "purpose": "replicated-token"}


class ReplicationError(Exception):
    """A push or pull did not get through (the message names the peer, never the token)."""


class ReplicationTransport(Protocol):
    """How sealed tokens travel between nodes: HTTP between processes, direct calls in the
    virtual-time simulation."""

    async def push(self, follower: str, blob: bytes) -> None: ...

    async def pull(self, leader: str) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class ReplicationSettings:
    lag: float = 0.0
    loss: float = 0.0
    fallback: str = "fetch"  # or "wait"
    # How long a follower waits for a leader that answers but has no token yet (it is getting
    # one: a cold start) before fetching its own; a node uses half its requests' wait_timeout,
    # so that a request waiting at a cold start still gets the fallback's token.
    leader_grace: float = 10.0


def seal_for_replication(keyring: Keyring, token: SavedToken) -> bytes:
    return seal(keyring, serialize_saved(token), REPLICATION_CONTEXT)


def open_replicated(keyring: Keyring, blob: bytes) -> SavedToken:
    """The token in a pushed or pulled blob; raises SealedDataError if it cannot be trusted."""
    plaintext, _ = open_sealed(keyring, blob, REPLICATION_CONTEXT)
    return parse_saved(plaintext)


class ReplicationLeader:
    """The leader: refreshes like ``per-node`` and pushes every new token to the followers."""

    strategy = "replicated"

    def __init__(
        self,
        own: OwnFile,
        keyring: Keyring,
        *,
        followers: Sequence[str],
        transport: ReplicationTransport,
        settings: ReplicationSettings,
        rng: random.Random,
    ) -> None:
        self._own = own
        self._keyring = keyring
        self._followers = tuple(followers)
        self._transport = transport
        self._settings = settings
        self._rng = rng
        self._current: bytes | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self.pushes: Counter[str] = Counter()  # sent, delivered, lost, failed

    async def load(self) -> SavedToken | None:
        saved = await self._own.load()
        if saved is not None and self._current is None:
            self._current = seal_for_replication(self._keyring, saved)
        return saved

    async def claim(self) -> bool:
        return True

    async def publish(self, token: SavedToken) -> None:
        await self._own.publish(token)
        self._current = seal_for_replication(self._keyring, token)
        for follower in self._followers:
            self.pushes["sent"] += 1
            if self._rng.random() < self._settings.loss:
                self.pushes["lost"] += 1
                continue
            task = asyncio.create_task(self._deliver(follower, self._current))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def release(self) -> None:
        return None

    async def discard(self, token: SavedToken) -> None:
        await self._own.discard(token)

    def current(self) -> bytes | None:
        """The sealed current token, for a follower that asks (never the plain token)."""
        return self._current

    async def close(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def _deliver(self, follower: str, blob: bytes) -> None:
        if self._settings.lag > 0:
            await asyncio.sleep(self._settings.lag)
        try:
            await self._transport.push(follower, blob)
        except ReplicationError as exc:
            self.pushes["failed"] += 1
            logger.warning("replication to %s failed: %s", follower, exc)
        else:
            self.pushes["delivered"] += 1


class ReplicaFollower:
    """A follower: uses what the leader pushes; its fallback decides what happens without."""

    strategy = "replicated"

    def __init__(
        self,
        own: OwnFile,
        keyring: Keyring,
        *,
        leader: str,
        transport: ReplicationTransport,
        settings: ReplicationSettings,
        margin: Callable[[float], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self._own = own
        self._keyring = keyring
        self._leader = leader
        self._transport = transport
        self._settings = settings
        self._margin = margin
        self._wall_clock = wall_clock
        self._newest: SavedToken | None = None
        self._refused: SavedToken | None = None  # the token Analytics refused: never again
        self._leader_empty_since: float | None = None  # the leader answered: no token yet
        self._listeners: list[Callable[[], None]] = []
        self.received: Counter[str] = Counter()  # pushed, pulled, rejected

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when a push brings a newer token (the provider then adopts it)."""
        self._listeners.append(listener)

    async def receive(self, blob: bytes) -> bool:
        """A push from the leader. A blob that does not open with the cluster keys is refused."""
        try:
            token = open_replicated(self._keyring, blob)
        except SealedDataError as exc:
            self.received["rejected"] += 1
            logger.warning("refused a replicated token: %s", exc)
            return False
        self.received["pushed"] += 1
        if await self._keep(token):
            for listener in self._listeners:
                listener()
        return True

    async def load(self) -> SavedToken | None:
        if self._newest is None:
            self._newest = await self._own.load()
        if self._newest is None:
            await self._pull()  # a new instance (or one whose token was refused) syncs once
        return self._newest

    async def claim(self) -> bool:
        """May this follower call the token endpoint itself? Only as the configured fallback,
        once the newest replicated token is inside its margin (or there is none), and not
        while a leader that has no token yet is getting one (for ``leader_grace``): at a cold
        start every follower would otherwise call IMS alongside the leader."""
        if self._settings.fallback != "fetch" or self._usable(self._newest):
            return False
        empty_since = self._leader_empty_since
        return empty_since is None or (
            self._wall_clock() - empty_since >= self._settings.leader_grace
        )

    async def publish(self, token: SavedToken) -> None:
        await self._keep(token)  # a token it fetched itself, by fallback

    async def release(self) -> None:
        return None

    async def discard(self, token: SavedToken) -> None:
        self._refused = token
        if self._newest is not None and self._newest.value == token.value:
            self._newest = None
        await self._own.discard(token)

    async def close(self) -> None:
        return None

    def _usable(self, token: SavedToken | None) -> bool:
        if token is None:
            return False
        remaining = token.lifetime - (self._wall_clock() - token.obtained_wall)
        return remaining > self._margin(token.lifetime)

    async def _pull(self) -> None:
        try:
            blob = await self._transport.pull(self._leader)
        except ReplicationError as exc:
            logger.info("could not ask the leader %s for its token: %s", self._leader, exc)
            self._leader_empty_since = None  # no leader to wait for: the fallback applies
            return
        if blob is None:
            if self._leader_empty_since is None:
                self._leader_empty_since = self._wall_clock()
            return
        self._leader_empty_since = None
        try:
            token = open_replicated(self._keyring, blob)
        except SealedDataError as exc:
            self.received["rejected"] += 1
            logger.warning("refused the leader's token: %s", exc)
            return
        self.received["pulled"] += 1
        await self._keep(token)

    async def _keep(self, token: SavedToken) -> bool:
        if self._refused is not None and token.value == self._refused.value:
            return False  # the leader has not replaced the refused token yet
        if self._newest is not None and token.obtained_wall <= self._newest.obtained_wall:
            return False  # older or the same: a replay or a late delivery
        self._newest = token
        await self._own.publish(token)
        return True
