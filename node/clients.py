"""The node's clients of the outside world, built from topology.yaml: IMS's token endpoint
and Analytics' Reports API (a publisher's, and the author's of author-report)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from tokensim_token import ClientCredentialsClient

from core.topology import Topology
from node.analytics_client import AnalyticsClient, ReportQuery


def ims_client(
    session: aiohttp.ClientSession,
    topology: Topology,
    *,
    user_agent: str,
    wall_clock: Callable[[], float],
) -> ClientCredentialsClient:
    ims = topology.ims
    return ClientCredentialsClient(
        session,
        token_url=ims.token_url,
        client_id=ims.client_id,
        scope=ims.scope,
        timeout=ims.timeout,
        user_agent=user_agent,
        wall_clock=wall_clock,
    )


def analytics_client(
    session: aiohttp.ClientSession,
    topology: Topology,
    *,
    user_agent: str,
    wall_clock: Callable[[], float],
) -> AnalyticsClient:
    analytics = topology.analytics
    return AnalyticsClient(
        session,
        base_url=analytics.base_url,
        api_key=topology.ims.client_id,
        query=ReportQuery(
            company_id=analytics.company_id,
            rsid=analytics.rsid,
            top=analytics.top,
            date_range_days=analytics.date_range_days,
        ),
        timeout=analytics.timeout,
        user_agent=user_agent,
        wall_clock=wall_clock,
    )
