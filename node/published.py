"""A publisher of the author-report design (``analytics.report_source: published``): it holds
no client secret and no token, makes no IMS and no Analytics call, and serves the report the
author published to it.

The author pushes each new report (sealed with the cluster keyring, so that nobody without
the keys can plant one) to ``PUT /internal/replication/report``, as AEM's replication agent
pushes content; the publisher keeps it on its disk, its repository, so a restart serves it at
once. A publisher that has none (a new one, or a recycled one on an empty disk) pulls the
current report from the author at start, as an AEM as a Cloud Service instance starts with
the repository's content, and until then answers ``/health`` 503 (starting): the balancer
sends it no visitors. A push that is not a sealed report is refused (400) and the previous
report kept; the publisher says so once per episode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
from tokensim_token import AccessToken, Keyring, SealedDataError, TokenUnavailable
from tokensim_token.files import read_own_file, write_atomic
from tokensim_token.model import ProviderStatus, TokenState
from tokensim_token.sealing import MAX_SEALED
from tokensim_token.stats import ProviderStats

from node.errors import ReportUnavailable
from node.report_sharing import open_report
from node.reports import TopPages

logger = logging.getLogger(__name__)

PULL_EVERY = 2.0  # seconds between pulls from the author while the publisher has no report
AUTHOR_REPORT_PATH = "/content/top-pages.sealed"  # the author's current report, sealed


class NoTokens:
    """The token provider of a publisher that needs none: it never calls IMS."""

    strategy = "none"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self) -> AccessToken:
        raise TokenUnavailable("this publisher holds no token: the author publishes the report")

    def current(self) -> AccessToken | None:
        return None

    def invalidate(self, token: AccessToken) -> bool:
        return False

    def state(self) -> TokenState:
        return TokenState.INVALID

    def status(self) -> ProviderStatus:
        return ProviderStats().status(self.strategy, TokenState.INVALID, None, 0.0)


class PublishedReports:
    """The published report as the widget serves it (the interface of
    :class:`node.reports.TopPagesService` that the handlers use)."""

    scheduled = True

    def __init__(
        self,
        keyring: Keyring,
        path: Path,
        *,
        author_url: str,
        session: aiohttp.ClientSession,
        wall_clock: Callable[[], float],
    ) -> None:
        self._keyring = keyring
        self._path = path
        self._author = author_url
        self._session = session
        self._wall_clock = wall_clock
        self._last: TopPages | None = None
        self._refusing = False  # an episode of refused pushes is logged once
        self._task: asyncio.Task[None] | None = None
        self.outcomes: Counter[str] = Counter()

    @property
    def has_report(self) -> bool:
        return self._last is not None

    async def start(self) -> None:
        stored = read_own_file(self._path, MAX_SEALED)
        if stored is not None and not self._take(stored, source="disk"):
            self._path.unlink(missing_ok=True)
        if self._last is None:
            self._task = asyncio.create_task(self._pull_until_published(), name="pull-report")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def fresh(self) -> TopPages | None:
        return self._last

    def seconds_valid(self) -> float:
        return 0.0  # content: kept by the dispatcher until the author's flush, not by time

    async def get(self) -> TopPages:
        if self._last is None:
            self.outcomes["unavailable"] += 1
            raise ReportUnavailable("no report published to this publisher yet")
        return self._last

    def receive(self, blob: bytes) -> bool:
        """A report the author pushed; False (and the previous one kept) when it is not one."""
        if not self._take(blob, source="push"):
            return False
        write_atomic(self._path, blob)
        return True

    def _take(self, blob: bytes, *, source: str) -> bool:
        try:
            report = open_report(self._keyring, blob)
        except SealedDataError as exc:
            self.outcomes["refused"] += 1
            if not self._refusing:
                self._refusing = True
                logger.warning(
                    "refused a published report (%s): %s; keeping the previous one", source, exc
                )
            return False
        self._refusing = False
        if self._last is None or report.fetched_at >= self._last.fetched_at:
            self._last = TopPages(report.pages, report.fetched_at)
            self.outcomes["published"] += 1
        return True

    async def _pull_until_published(self) -> None:
        url = self._author + AUTHOR_REPORT_PATH
        while self._last is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                timeout = aiohttp.ClientTimeout(total=5)
                async with self._session.get(url, timeout=timeout) as reply:
                    if reply.status == 200 and self.receive(
                        await reply.content.read(MAX_SEALED + 1)
                    ):
                        self.outcomes["pulled"] += 1
                        logger.info("took the author's current report at start")
                        return
            await asyncio.sleep(PULL_EVERY)
