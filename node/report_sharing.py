"""One Analytics report for the whole cluster (``analytics.report_sharing: shared``).

Analytics allows 12 requests per 6 s per client, shared by every node of the client: each node
fetching its own report every ``analytics.report_refresh`` makes N calls per interval. Sharing
the report keeps the cluster at one call per interval, whatever its size. Two ways, each a
:class:`node.reports.TopPagesSource` in front of the Analytics client:

* :class:`StoreSharedReport` (every strategy but ``replicated``): the report lives in the shared
  store (``token.store``: files or Redis, beside the token), sealed with the cluster keyring so
  that nobody without the keys can plant one. A node whose copy has expired adopts the stored
  one if it is fresh; otherwise it takes the store's report lease and asks Analytics, then
  publishes. A 429 is published too: the cluster holds back together.
* :class:`PushedReport` (``replicated``): the leader fetches and pushes each report to the
  followers with the replication transport, as it pushes the token; a follower serves the
  pushed report while it is fresh and fetches its own only when none has come (the leader is
  down).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tokensim_token import AccessToken, Keyring, SealedDataError, SharedStore
from tokensim_token.errors import ReplicationError
from tokensim_token.jsonsafe import parse_json_object
from tokensim_token.sealing import open_sealed, seal

from node.analytics_client import PageVisits
from node.errors import AnalyticsThrottled, AnalyticsUnavailable
from node.reports import TopPagesSource

logger = logging.getLogger(__name__)

REPORT_CONTEXT = {"scope": "cluster", "purpose": "report"}
FIRST_POLL = 0.1  # seconds between looks at the store while another node fetches the first


@dataclass(frozen=True, slots=True)
class SharedPages:
    pages: tuple[PageVisits, ...]
    fetched_at: float  # wall clock
    hold_until: float = 0.0  # wall clock: after a 429, nobody asks Analytics before this


def seal_report(keyring: Keyring, report: SharedPages) -> bytes:
    document = {
        "pages": [{"page": p.page, "visits": p.visits} for p in report.pages],
        "fetched_at": report.fetched_at,
        "hold_until": report.hold_until,
    }
    return seal(keyring, json.dumps(document).encode(), REPORT_CONTEXT)


def open_report(keyring: Keyring, blob: bytes) -> SharedPages:
    """The report in ``blob``; SealedDataError when it cannot be trusted."""
    plaintext, _ = open_sealed(keyring, blob, REPORT_CONTEXT)
    try:
        document = parse_json_object(plaintext, max_bytes=len(plaintext))
        pages = tuple(PageVisits(str(p["page"]), float(p["visits"])) for p in document["pages"])
        return SharedPages(pages, float(document["fetched_at"]), float(document["hold_until"]))
    except (ValueError, KeyError, TypeError):
        raise SealedDataError("decrypted, but not a report") from None


class StoreSharedReport:
    """The cluster's report in the shared store, refreshed by the holder of its lease."""

    def __init__(
        self,
        analytics: TopPagesSource,
        store: SharedStore,
        keyring: Keyring,
        *,
        owner: str,
        refresh: float,
        lease_ttl: float,
        wall_clock: Callable[[], float],
    ) -> None:
        self._analytics = analytics
        self._store = store
        self._keyring = keyring
        self._owner = owner
        self._refresh = refresh
        self._lease_ttl = lease_ttl
        self._wall_clock = wall_clock
        self.adopted = 0  # reports taken from the store without a call

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]:
        shared = await self._load()
        now = self._wall_clock()
        if shared is not None and now - shared.fetched_at < self._refresh:
            self.adopted += 1
            return shared.pages
        if shared is not None and now < shared.hold_until:
            raise AnalyticsThrottled("the cluster holds back after a 429 (shared report)")
        if not await self._lease():
            if shared is not None:  # another node is fetching it: serve what there is
                self.adopted += 1
                return shared.pages
            return await self._first(token)
        try:
            return await self._fetch(token, shared)
        finally:
            await self._release()

    async def _first(self, token: AccessToken) -> tuple[PageVisits, ...]:
        """No report yet and another node is fetching the first: wait for it (as long as a
        lease lasts at most), or take over if that node let the lease go without one."""
        waited = 0.0
        while waited < self._lease_ttl:
            await asyncio.sleep(FIRST_POLL)
            waited += FIRST_POLL
            shared = await self._load()
            if shared is not None:
                self.adopted += 1
                return shared.pages
            if await self._lease():
                try:
                    return await self._fetch(token, None)
                finally:
                    await self._release()
        raise AnalyticsUnavailable("another node is fetching the cluster's first report")

    async def _fetch(
        self, token: AccessToken, shared: SharedPages | None
    ) -> tuple[PageVisits, ...]:
        try:
            pages = await self._analytics.top_pages(token)
        except AnalyticsThrottled:
            if shared is not None:  # the whole cluster holds back: Analytics' window is 6 s
                await self._publish(
                    SharedPages(shared.pages, shared.fetched_at, self._wall_clock() + 6)
                )
            raise
        await self._publish(SharedPages(pages, self._wall_clock()))
        return pages

    async def _load(self) -> SharedPages | None:
        try:
            blob = await self._store.get()
        except OSError as exc:
            logger.warning("shared report store unavailable (%s); fetching alone", exc)
            return None
        if blob is None:
            return None
        try:
            return open_report(self._keyring, blob)
        except SealedDataError as exc:
            logger.warning("ignoring the shared report: %s", exc)
            return None

    async def _lease(self) -> bool:
        try:
            return await self._store.try_lease(self._owner, self._lease_ttl)
        except OSError:
            return True  # degraded: fetch alone rather than serve nothing

    async def _release(self) -> None:
        with contextlib.suppress(OSError):
            await self._store.release_lease(self._owner)

    async def _publish(self, report: SharedPages) -> None:
        try:
            await self._store.put(seal_report(self._keyring, report))
        except OSError as exc:
            logger.warning("could not publish the shared report: %s", exc)


class ReportPush(Protocol):
    """How a pushed report travels (HTTP between processes: :mod:`node.replication_http`)."""

    async def push_report(self, follower: str, blob: bytes) -> None: ...


FIRST_PUSH_GRACE = 5.0  # seconds a follower without a report waits for the leader's push


class PushedReport:
    """``replicated``: the leader fetches and pushes; a follower serves what it was pushed."""

    def __init__(
        self,
        analytics: TopPagesSource,
        keyring: Keyring,
        *,
        leader: bool,
        followers: Sequence[str],
        transport: ReportPush,
        refresh: float,
        lag: float,
        wall_clock: Callable[[], float],
    ) -> None:
        self._analytics = analytics
        self._keyring = keyring
        self._leader = leader
        self._followers = tuple(followers)
        self._transport = transport
        self._fresh_for = refresh + lag + 1.0  # a follower waits for the next push this long
        self._grace = lag + FIRST_PUSH_GRACE  # a new follower waits this long for a first push
        self._wall_clock = wall_clock
        self._pushed: SharedPages | None = None
        self._arrived = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self.adopted = 0

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]:
        if not self._leader and self._pushed is None:
            # Started with the leader (a deployment): its first push is on its way.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._grace):  # not wait_for: cpython#86296
                    await self._arrived.wait()
        pushed = self._pushed
        fresh = pushed is not None and self._wall_clock() - pushed.fetched_at < self._fresh_for
        if not self._leader and pushed is not None and fresh:
            self.adopted += 1
            return pushed.pages
        pages = await self._analytics.top_pages(token)  # the leader; or a follower left alone
        if self._leader:
            self._push(SharedPages(pages, self._wall_clock()))
        return pages

    def receive(self, blob: bytes) -> bool:
        """A report pushed by the leader; False when it does not open with the cluster keys."""
        try:
            report = open_report(self._keyring, blob)
        except SealedDataError as exc:
            logger.warning("refused a pushed report: %s", exc)
            return False
        if self._pushed is None or report.fetched_at > self._pushed.fetched_at:
            self._pushed = report
            self._arrived.set()
        return True

    def _push(self, report: SharedPages) -> None:
        blob = seal_report(self._keyring, report)
        for follower in self._followers:
            task = asyncio.create_task(self._deliver(follower, blob))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, follower: str, blob: bytes) -> None:
        try:
            await self._transport.push_report(follower, blob)
        except ReplicationError as exc:
            logger.info("report push to %s failed: %s", follower, exc)

    async def close(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
