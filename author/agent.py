"""A replication agent: one per publisher, as AEM's replication agents are.

Each report the author publishes is queued for every publisher and delivered in order: a push
(``PUT /internal/replication/report``, the sealed report) that the publisher acknowledges with
204, then a flush of that publisher's dispatcher (``POST /dispatcher/invalidate.cache``, as a
flush agent does), so that the dispatcher's cached copy of the widget's data goes. A push that
fails is retried after ``retry`` seconds, doubling up to ``retry_cap``, and the queue waits
behind it: the queue is *blocked*, as AEM's is, and newer reports pile up behind the head.
Nothing is dropped; when the publisher answers again the queue drains in order (a publisher
takes a report only if it is newer than the one it has). A flush that fails is counted and not
retried: the dispatcher then serves its cached copy until the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from node.replication_http import REPORT_PATH, put_sealed

logger = logging.getLogger(__name__)

WIDGET_HANDLE = "/content/site/en/top-pages"  # what the flush invalidates (and its .json)


@dataclass(frozen=True, slots=True)
class Target:
    publisher: str
    publisher_url: str
    dispatcher_urls: tuple[str, ...]


class ReplicationAgent:
    def __init__(
        self,
        target: Target,
        session: aiohttp.ClientSession,
        *,
        retry: float,
        retry_cap: float,
        flush: bool,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self._target = target
        self._session = session
        self._retry, self._retry_cap = retry, retry_cap
        self._flush = flush
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._blocked_since: float | None = None
        self.counts: Counter[str] = Counter()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"agent-{self._target.publisher}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def enqueue(self, blob: bytes) -> None:
        self._queue.append(blob)
        self.counts["queued"] += 1
        self._wake.set()

    def status(self) -> dict[str, object]:
        blocked = self._blocked_since
        return {
            "publisher": self._target.publisher,
            "pending": len(self._queue),
            "blocked_for_s": None if blocked is None else round(self._clock() - blocked, 1),
            **dict(self.counts),
        }

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._deliver(self._queue[0])
            self._queue.popleft()

    async def _deliver(self, blob: bytes) -> None:
        """Push the head of the queue until the publisher takes it (the queue waits), then
        flush its dispatchers."""
        wait = self._retry
        while True:
            problem = await self._push(blob)
            if problem is None:
                break
            self.counts["retries"] += 1
            if self._blocked_since is None:
                self._blocked_since = self._clock()
                logger.warning(
                    "replication to %s blocked: %s; retrying", self._target.publisher, problem
                )
            await asyncio.sleep(wait)
            wait = min(self._retry_cap, wait * 2)
        if self._blocked_since is not None:
            logger.info(
                "replication to %s unblocked after %.0f s",
                self._target.publisher,
                self._clock() - self._blocked_since,
            )
            self._blocked_since = None
        self.counts["delivered"] += 1
        if self._flush:
            await self._invalidate()

    async def _push(self, blob: bytes) -> str | None:
        """None when the publisher acknowledged; else what went wrong."""
        url = self._target.publisher_url + REPORT_PATH
        try:
            status = await put_sealed(self._session, url, blob, self._timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.counts["unreachable"] += 1
            return f"unreachable ({type(exc).__name__})"
        if status == 204:
            return None
        self.counts[f"answered_{status}"] += 1
        return f"answered {status}"

    async def _invalidate(self) -> None:
        for url in self._target.dispatcher_urls:
            try:
                async with self._session.post(
                    url + "/dispatcher/invalidate.cache",
                    headers={"CQ-Handle": WIDGET_HANDLE, "CQ-Action": "Activate"},
                    timeout=self._timeout,
                ) as reply:
                    await reply.read()
                    ok = reply.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            self.counts["flushed" if ok else "flush_failed"] += 1
