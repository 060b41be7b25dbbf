"""The Analytics 2.0 Reports API call: "top pages by visits" (docs/wire-formats.md).

``POST {base_url}/api/{globalCompanyId}/reports`` with ``Authorization: Bearer``, ``x-api-key``
and the report body; rows come back as ``{"value": page, "data": [visits]}``. Members the API
adds later are ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from tokensim_token import AccessToken
from tokensim_token.jsonsafe import parse_json_object

from node.errors import (
    AnalyticsBadReply,
    AnalyticsThrottled,
    AnalyticsUnauthorized,
    AnalyticsUnavailable,
)

MAX_REPLY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PageVisits:
    page: str
    visits: float


@dataclass(frozen=True, slots=True)
class ReportQuery:
    company_id: str
    rsid: str
    top: int
    date_range_days: int


class AnalyticsClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        query: ReportQuery,
        timeout: float,
        user_agent: str,
        wall_clock: Callable[[], float],
    ) -> None:
        self._session = session
        self._url = f"{base_url.rstrip('/')}/api/{query.company_id}/reports"
        self._api_key = api_key
        self._query = query
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._user_agent = user_agent
        self._wall_clock = wall_clock

    async def top_pages(self, token: AccessToken) -> tuple[PageVisits, ...]:
        headers = {
            "Authorization": token.authorization(),
            "x-api-key": self._api_key,
            "x-proxy-global-company-id": self._query.company_id,
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        body = report_request(self._query, self._wall_clock())
        try:
            async with self._session.post(
                self._url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                raw = await response.content.read(MAX_REPLY_BYTES)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise AnalyticsUnavailable(f"Analytics unreachable ({type(exc).__name__})") from None
        if status == 200:
            return parse_report(raw, self._query.top)
        detail = _error_detail(raw)
        if status == 401:
            raise AnalyticsUnauthorized(f"Analytics refused the token (401 {detail})")
        if status == 429:
            raise AnalyticsThrottled(f"Analytics answered 429 {detail}")
        if status >= 500:
            raise AnalyticsUnavailable(f"Analytics answered {status} {detail}")
        raise AnalyticsBadReply(f"Analytics answered {status} {detail}")


def report_request(query: ReportQuery, now_wall: float) -> dict[str, Any]:
    """The "top pages by visits" request body for the last ``date_range_days`` full days."""
    end = dt.datetime.fromtimestamp(now_wall, tz=dt.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    start = end - dt.timedelta(days=query.date_range_days)
    fmt = "%Y-%m-%dT%H:%M:%S.000"
    return {
        "rsid": query.rsid,
        "globalFilters": [
            {"type": "dateRange", "dateRange": f"{start.strftime(fmt)}/{end.strftime(fmt)}"}
        ],
        "metricContainer": {"metrics": [{"columnId": "0", "id": "metrics/visits", "sort": "desc"}]},
        "dimension": "variables/page",
        "settings": {"limit": query.top, "page": 0},
    }


def parse_report(raw: bytes, top: int) -> tuple[PageVisits, ...]:
    """Pages and visits from a report reply, most visited first (re-sorted to be sure)."""
    try:
        document = parse_json_object(raw, max_bytes=MAX_REPLY_BYTES)
        rows = document["rows"]
        pages = [PageVisits(str(row["value"]), _number(row["data"][0])) for row in rows]
    except (ValueError, KeyError, IndexError, TypeError):
        raise AnalyticsBadReply("Analytics reply is not a report with rows") from None
    pages.sort(key=lambda p: p.visits, reverse=True)
    return tuple(pages[:top])


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("visits is not a number")
    return float(value)


def _error_detail(raw: bytes) -> str:
    """Adobe's error envelope, shortened: ``errorCode: errorDescription``."""
    try:
        document = parse_json_object(raw, max_bytes=MAX_REPLY_BYTES)
        code = document.get("errorCode") or document.get("error_code") or ""
        text = document.get("errorDescription") or document.get("message") or ""
        return f"{code}: {str(text)[:120]}".strip(": ")
    except (ValueError, AttributeError):
        return ""
