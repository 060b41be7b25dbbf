"""The node's report service: on Adobe's schedule (once per ``report_refresh``, jittered, at
start at once), or on every page load; stale after a failure, never an error once it has one."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from tokensim_token import AccessToken, Keyring
from tokensim_token.clock import Clock

from node.analytics_client import PageVisits
from node.errors import AnalyticsUnavailable, ReportUnavailable
from node.reports import TopPagesService
from tests.support.world import WALL_EPOCH, ScriptedTokenEndpoint, start_provider, topology_dict

pytestmark = pytest.mark.looptime


class ScriptedAnalytics:
    """Analytics as a script: each call takes ``latency`` and fails while ``down``."""

    def __init__(self, latency: float = 1.0) -> None:
        self.latency = latency
        self.down = False
        self.calls: list[float] = []

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]:
        loop = asyncio.get_running_loop()
        self.calls.append(loop.time())
        await asyncio.sleep(self.latency)
        if self.down:
            raise AnalyticsUnavailable("Analytics answered 503")
        return (PageVisits("/a", 2.0), PageVisits("/b", 1.0))


async def service(
    tmp_path: Path, analytics: ScriptedAnalytics, *, refresh: float, seed: int = 1
) -> TopPagesService:
    from core.topology import Topology

    clock = Clock.of_loop(asyncio.get_running_loop(), wall_offset=WALL_EPOCH)
    topology = Topology.from_dict(topology_dict(tmp_path, "http://x", "http://y"))
    tokens = await start_provider(
        topology, ScriptedTokenEndpoint(lifetime=86_399), keyring=Keyring.generate(), clock=clock
    )
    reports = TopPagesService(
        analytics=analytics,
        tokens=tokens,
        refresh=refresh,
        jitter=0.1,
        clock=clock,
        rng=random.Random(seed),
    )
    await reports.start()
    return reports


async def test_on_a_schedule_it_asks_at_start_then_once_an_interval_and_nobody_waits(
    tmp_path: Path,
) -> None:
    analytics = ScriptedAnalytics()
    reports = await service(tmp_path, analytics, refresh=1800)
    first = await reports.get()  # the first report: requests wait for it, once
    assert [p.page for p in first.pages] == ["/a", "/b"]
    loop = asyncio.get_running_loop()
    for _ in range(6 * 60):  # six hours, a request a minute: none waits
        before = loop.time()
        assert reports.fresh() is not None
        await reports.get()
        assert loop.time() == before
        await asyncio.sleep(60)
    gaps = [b - a for a, b in zip(analytics.calls, analytics.calls[1:], strict=False)]
    assert len(analytics.calls) in (11, 12, 13)  # 6 h / (30 min + up to 10 %)
    assert all(1800 + 1 <= gap <= 1800 * 1.1 + 1 for gap in gaps)  # answer + interval (+jitter)
    assert 0 < reports.seconds_valid() <= 1800 * 1.1
    await reports.close()


async def test_publishers_deployed_together_drift_apart(tmp_path: Path) -> None:
    together = [ScriptedAnalytics() for _ in range(3)]
    services = [
        await service(tmp_path / str(i), a, refresh=1800, seed=i) for i, a in enumerate(together)
    ]
    await asyncio.sleep(5 * 3600)
    fifth = [a.calls[5] for a in together]
    assert max(fifth) - min(fifth) > 60  # no longer in the same second, or the same minute
    for reports in services:
        await reports.close()


async def test_a_failed_refresh_shows_the_last_report_stale_and_is_retried_soon(
    tmp_path: Path,
) -> None:
    analytics = ScriptedAnalytics()
    reports = await service(tmp_path, analytics, refresh=600)
    await reports.get()
    analytics.down = True
    await asyncio.sleep(700)  # the refresh at 10 min failed
    shown = reports.fresh()
    assert shown is not None
    assert shown.stale
    assert reports.seconds_valid() == 0  # a stale report is not to be kept downstream
    calls = len(analytics.calls)
    analytics.down = False
    await asyncio.sleep(120)  # the hold after a failure is seconds, not the whole interval
    assert len(analytics.calls) > calls
    shown = reports.fresh()
    assert shown is not None
    assert not shown.stale
    assert reports.outcomes["stale"] >= 1
    await reports.close()


async def test_on_every_page_load_concurrent_requests_share_one_call(tmp_path: Path) -> None:
    analytics = ScriptedAnalytics(latency=0.5)
    reports = await service(tmp_path, analytics, refresh=0)
    assert reports.fresh() is None
    got = await asyncio.gather(*(reports.get() for _ in range(20)))
    assert len(analytics.calls) == 1
    assert len({id(g) for g in got}) == 1
    await reports.get()
    assert len(analytics.calls) == 2  # the next page load asks again
    assert reports.seconds_valid() == 0
    await reports.close()


async def test_with_no_report_yet_and_analytics_down_a_request_is_refused(
    tmp_path: Path,
) -> None:
    analytics = ScriptedAnalytics()
    analytics.down = True
    reports = await service(tmp_path, analytics, refresh=1800)
    with pytest.raises(ReportUnavailable):
        await reports.get()
    await reports.close()
