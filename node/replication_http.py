"""The ``replicated`` strategy over HTTP between publishers (the transport and the endpoints).

``PUT /internal/replication/token`` on a follower takes a pushed token; ``GET`` on the leader
answers its current one to a follower that has none. The body is the token sealed with the
cluster keyring (AES-256-GCM), so only a node holding the cluster keys can make or read one;
a replayed older blob is ignored because only newer tokens are adopted. These paths are not on
the dispatcher's allow-list: they are reachable between publishers, never from outside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import aiohttp
from aiohttp import web
from tokensim_token.errors import ReplicationError

from node.token.replication import ReplicaFollower, ReplicationLeader

PATH = "/internal/replication/token"
REPORT_PATH = "/internal/replication/report"  # the leader's report (report_sharing: shared)
PATHS = (PATH, REPORT_PATH)
MAX_BLOB = 64 * 1024

LEADER = web.AppKey("replication_leader", ReplicationLeader)
FOLLOWER = web.AppKey("replication_follower", ReplicaFollower)


class ReportReceiver(Protocol):
    """Takes a pushed report: the replicated design's follower, or a publisher of the
    author-report design."""

    def receive(self, blob: bytes) -> bool: ...

    async def close(self) -> None: ...


PUSHED_REPORT = web.AppKey("pushed_report", ReportReceiver)


class HttpReplication:
    """Pushes and pulls sealed tokens between publishers, addressed by id."""

    def __init__(
        self, session: aiohttp.ClientSession, peers: Mapping[str, str], *, timeout: float
    ) -> None:
        self._session = session
        self._peers = dict(peers)
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def push(self, follower: str, blob: bytes) -> None:
        await self._put(follower, PATH, blob)

    async def push_report(self, follower: str, blob: bytes) -> None:
        await self._put(follower, REPORT_PATH, blob)

    async def _put(self, follower: str, path: str, blob: bytes) -> None:
        url = self._peers[follower] + path
        try:
            status = await put_sealed(self._session, url, blob, self._timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ReplicationError(f"{follower} unreachable ({type(exc).__name__})") from None
        if status != 204:
            raise ReplicationError(f"{follower} answered {status}")

    async def pull(self, leader: str) -> bytes | None:
        url = self._peers[leader] + PATH
        try:
            async with self._session.get(url, timeout=self._timeout) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise ReplicationError(f"{leader} answered {response.status}")
                return await response.content.read(MAX_BLOB)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ReplicationError(f"{leader} unreachable ({type(exc).__name__})") from None


async def put_sealed(
    session: aiohttp.ClientSession, url: str, blob: bytes, timeout: aiohttp.ClientTimeout
) -> int:
    """PUT a sealed token or report to a peer; its status (204: taken). A peer that cannot be
    reached raises aiohttp.ClientError or TimeoutError. The one push of the leader (replicated)
    and of the author's replication agents (author-report)."""
    async with session.put(
        url, data=blob, headers={"Content-Type": "application/octet-stream"}, timeout=timeout
    ) as response:
        await response.read()
        return response.status


async def receive_token(request: web.Request) -> web.Response:
    """A push from the leader: 204 when it opened with the cluster keys, 400 otherwise."""
    follower = request.app.get(FOLLOWER)
    if follower is None:
        raise web.HTTPNotFound()
    if request.content_length is not None and request.content_length > MAX_BLOB:
        raise web.HTTPRequestEntityTooLarge(MAX_BLOB, request.content_length)
    blob = await request.content.read(MAX_BLOB)
    if not await follower.receive(blob):
        return web.json_response({"error": "not a token sealed with the cluster keys"}, status=400)
    return web.Response(status=204)


async def receive_report(request: web.Request) -> web.Response:
    """A report pushed by the leader: 204 when it opened with the cluster keys, else 400."""
    pushed = request.app.get(PUSHED_REPORT)
    if pushed is None:
        raise web.HTTPNotFound()
    if request.content_length is not None and request.content_length > MAX_BLOB:
        raise web.HTTPRequestEntityTooLarge(MAX_BLOB, request.content_length)
    if not pushed.receive(await request.content.read(MAX_BLOB)):
        return web.json_response({"error": "not a report sealed with the cluster keys"}, status=400)
    return web.Response(status=204)


async def current_token(request: web.Request) -> web.Response:
    """The leader's current token, sealed; 404 on a follower or while it has none."""
    leader = request.app.get(LEADER)
    blob = leader.current() if leader is not None else None
    if blob is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=blob,
        content_type="application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )
