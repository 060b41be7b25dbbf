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

A push is bound to its leader and to the moment it was sent: the leader's id is part of the
sealing context, and the sealed payload carries a sequence number (the leader's wall clock in
milliseconds, strictly increasing, so it survives a leader restart) and the time it was sent.
A follower refuses a push from another node, one not newer than the last it took, and one sent
longer ago than ``lag`` + :data:`FRESHNESS`: a captured push cannot be replayed later, not even
to a follower that has no token yet (the only kind a bare "newer than mine" check would let in).

Both coordinators also keep the node's own sealed file, so a restart reuses a valid token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tokensim_token.coordination import OwnFile
from tokensim_token.errors import ReplicationError, SealedDataError
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.keyring import Keyring
from tokensim_token.sealing import open_sealed, seal
from tokensim_token.store import SavedToken, parse_saved, serialize_saved

logger = logging.getLogger(__name__)

FRESHNESS = 300.0  # seconds a push may take beyond the configured lag (clock skew, retries)


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


@dataclass(frozen=True, slots=True)
class Push:
    """What a push carries: the token, the leader's sequence number, when it was sent."""

    token: SavedToken
    seq: int
    sent_at: float


def _context(leader: str) -> dict[str, str]:
    return {"scope": "cluster", "purpose": "replicated-token", "from": leader}


def seal_for_replication(keyring: Keyring, leader: str, push: Push) -> bytes:
    saved = json.loads(serialize_saved(push.token))
    payload = {**saved, "seq": push.seq, "sent_at": push.sent_at}
    return seal(keyring, json.dumps(payload).encode(), _context(leader))


def open_replicated(keyring: Keyring, leader: str, blob: bytes) -> Push:
    """The push in a blob from ``leader``; SealedDataError if it cannot be trusted."""
    plaintext, _ = open_sealed(keyring, blob, _context(leader))
    token = parse_saved(plaintext)
    try:
        document = parse_json_object(plaintext, max_bytes=len(plaintext))
        seq, sent_at = document["seq"], document["sent_at"]
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError("seq")
        return Push(token, seq, float(sent_at))
    except (ValueError, KeyError, TypeError):
        raise SealedDataError("decrypted, but not a push (no sequence number)") from None


class ReplicationLeader:
    """The leader: refreshes like ``per-node`` and pushes every new token to the followers."""

    strategy = "replicated"

    def __init__(
        self,
        own: OwnFile,
        keyring: Keyring,
        *,
        node_id: str,
        followers: Sequence[str],
        transport: ReplicationTransport,
        settings: ReplicationSettings,
        rng: random.Random,
        wall_clock: Callable[[], float],
    ) -> None:
        self._own = own
        self._keyring = keyring
        self._id = node_id
        self._followers = tuple(followers)
        self._transport = transport
        self._settings = settings
        self._rng = rng
        self._wall_clock = wall_clock
        self._seq = 0
        self._current: SavedToken | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self.pushes: Counter[str] = Counter()  # sent, delivered, lost, failed

    async def load(self) -> SavedToken | None:
        saved = await self._own.load()
        if saved is not None and self._current is None:
            self._current = saved
        return saved

    async def claim(self) -> bool:
        return True

    async def publish(self, token: SavedToken) -> None:
        await self._own.publish(token)
        self._current = token
        blob = self._sealed(token)
        for follower in self._followers:
            self.pushes["sent"] += 1
            if self._rng.random() < self._settings.loss:
                self.pushes["lost"] += 1
                continue
            task = asyncio.create_task(self._deliver(follower, blob))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def release(self) -> None:
        return None

    async def discard(self, token: SavedToken) -> None:
        await self._own.discard(token)

    def on_change(self, listener: Callable[[], None]) -> None:
        return None  # the leader is never pushed to

    def refusing_for(self) -> float:
        return 0.0  # it never refuses

    def current(self) -> bytes | None:
        """The current token sealed now, for a follower that asks (never the plain token)."""
        return None if self._current is None else self._sealed(self._current)

    def _sealed(self, token: SavedToken) -> bytes:
        now = self._wall_clock()
        self._seq = max(self._seq + 1, int(now * 1000))
        return seal_for_replication(self._keyring, self._id, Push(token, self._seq, now))

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
        self._last_seq = 0  # of the newest push taken from the leader
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when a push brings a newer token (the provider then adopts it)."""
        self._listeners.append(listener)

    async def receive(self, blob: bytes) -> bool:
        """A push from the leader. Refused when it does not open with the cluster keys as the
        leader's, or is a replay: not newer than the last taken, or sent too long ago."""
        try:
            token = self._open(blob, pushed=True)
        except SealedDataError as exc:
            logger.warning("refused a replicated token: %s", exc)
            return False
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
        while a leader that has no token yet (or does not answer yet) may be getting one, for
        ``leader_grace``: at a cold start every follower would otherwise call IMS alongside
        the leader."""
        if self._settings.fallback != "fetch" or self._usable(self._newest):
            return False
        empty_since = self._leader_empty_since
        return empty_since is None or (
            self._wall_clock() - empty_since >= self._settings.leader_grace
        )

    def refusing_for(self) -> float:
        """How long ``claim()`` goes on refusing if nothing is pushed: while the newest token
        is usable, until it reaches its margin (a push calls the listeners before that)."""
        return max(0.0, self._before_margin(self._newest))

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
        return self._before_margin(token) > 0

    def _before_margin(self, token: SavedToken | None) -> float:
        """Seconds until ``token`` reaches its margin (negative inside it; none: -inf)."""
        if token is None:
            return -math.inf
        remaining = token.lifetime - (self._wall_clock() - token.obtained_wall)
        return remaining - self._margin(token.lifetime)

    async def _pull(self) -> None:
        try:
            blob = await self._transport.pull(self._leader)
        except ReplicationError as exc:
            logger.info("could not ask the leader %s for its token: %s", self._leader, exc)
            # Not up yet (the estate is starting) or gone: either way the follower waits the
            # grace for it, then the fallback applies.
            if self._leader_empty_since is None:
                self._leader_empty_since = self._wall_clock()
            return
        if blob is None:
            if self._leader_empty_since is None:
                self._leader_empty_since = self._wall_clock()
            return
        self._leader_empty_since = None
        try:
            token = self._open(blob, pushed=False)
        except SealedDataError as exc:
            logger.warning("refused the leader's token: %s", exc)
            return
        await self._keep(token)

    def _open(self, blob: bytes, *, pushed: bool) -> SavedToken:
        """The token in a push (or in the answer to our own pull), if it is no replay."""
        push = open_replicated(self._keyring, self._leader, blob)
        age = self._wall_clock() - push.sent_at
        if not -FRESHNESS <= age <= self._settings.lag + FRESHNESS:
            raise SealedDataError(f"sent {age:.0f}s ago: a replay, or clocks far apart")
        if pushed:
            if push.seq <= self._last_seq:
                raise SealedDataError(f"sequence {push.seq} not after {self._last_seq}: a replay")
            self._last_seq = push.seq
        return push.token

    async def _keep(self, token: SavedToken) -> bool:
        if self._refused is not None and token.value == self._refused.value:
            return False  # the leader has not replaced the refused token yet
        if self._newest is not None and token.obtained_wall <= self._newest.obtained_wall:
            return False  # older or the same: a replay or a late delivery
        self._newest = token
        await self._own.publish(token)
        return True
