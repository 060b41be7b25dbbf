"""What the two proxies of the edge (the balancer and the dispatchers) agree on: which headers
are hop-by-hop, how ``X-Forwarded-For`` grows, and the header with which a dispatcher says that
its publisher could not be reached (the balancer may then retry a GET elsewhere). In ``core``
so that neither service imports the other."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

# Set by a dispatcher on its 502/504 when the publisher behind it could not be reached.
DISPATCHER_ERROR_HEADER = "X-Dispatcher-Error"

# RFC 9110 7.6.1, plus the ones aiohttp recomputes itself.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)


def forwardable(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """A copy of ``headers`` without hop-by-hop headers."""
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


def with_forwarded_for(headers: CIMultiDict[str], client: str | None) -> CIMultiDict[str]:
    if client:
        previous = headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{previous}, {client}" if previous else client
    return headers
