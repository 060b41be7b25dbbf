"""Requests a control plane (status, metrics, admin, replication, flush) accepts: from local
tools, never from a web page.

A control plane listens on loopback or a private address, but a browser on the same machine
can still reach it: a page may post to ``http://127.0.0.1:<port>/admin/...`` (a cross-site
request) or have its own domain resolve to 127.0.0.1 (DNS rebinding, the request then
carries the page's domain as its Host). So, as Kubernetes' and Docker's local APIs and
Jupyter do:

* the Host must name an address, ``localhost`` or one of the service's configured names,
  never another domain (this defeats rebinding); a request without a Host (HTTP/1.0) passes;
* a request that changes state (anything but GET, HEAD and OPTIONS) is refused when the
  browser says it is cross-site (``Sec-Fetch-Site: cross-site`` or ``same-site``) or when it
  carries an ``Origin`` other than the control plane's own.

Plain requests from local tools (curl, the harness, a peer node) carry neither and pass.
Refusals are 403 with a one-line reason, counted in ``refused`` by reason (each service's
``/metrics``) and logged, once a minute per reason at most.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

logger = logging.getLogger(__name__)

LOG_EVERY = 60.0  # seconds: one log line per reason at most this often
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})


class ControlPlaneGuard:
    """Checks a request against the rules above; one per service, shared by its handlers."""

    def __init__(
        self, names: Iterable[str] = (), *, refused: collections.Counter[str] | None = None
    ) -> None:
        self._names = LOCAL_NAMES | {n.lower() for n in names}
        # by reason; ``refused``: counted where the service's /metrics already reads them
        self.refused: collections.Counter[str] = (
            refused if refused is not None else collections.Counter()
        )
        self._logged: dict[str, float] = {}  # reason -> when it was last logged

    def refusal(self, request: web.Request) -> str | None:
        """Why ``request`` is refused, or None when it may proceed."""
        hosts = request.headers.getall("Host", [])
        if len(hosts) > 1:
            return "more than one Host header"
        if hosts and not self._own_host(hosts[0]):
            return "Host is not this control plane's address"
        if request.method in SAFE_METHODS:
            return None
        sites = {v.strip().lower() for v in request.headers.getall("Sec-Fetch-Site", [])}
        if sites & {"cross-site", "same-site"}:
            return "a cross-site request from a browser"
        origins = request.headers.getall("Origin", [])
        if origins and any(not _same_origin(o, hosts[0] if hosts else "") for o in origins):
            return "Origin is not this control plane"
        return None

    def guard(self, handler: Handler) -> Handler:
        """``handler``, answering 403 to a request :meth:`refusal` refuses."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is not None:
                self._refuse(request, reason)
                return web.json_response(
                    {"error": "forbidden", "reason": reason},
                    status=403,
                    headers={"Cache-Control": "no-store"},
                )
            return await handler(request)

        return guarded

    def _refuse(self, request: web.Request, reason: str) -> None:
        """Count it; log it, at most once a minute per reason (an attack must not flood)."""
        self.refused[reason] += 1
        now = time.monotonic()
        if now - self._logged.get(reason, -LOG_EVERY) >= LOG_EVERY:
            self._logged[reason] = now
            logger.warning(
                "control plane refused %s %s from %s: %s (%d so far)",
                request.method,
                request.path,
                request.remote,
                reason,
                self.refused[reason],
            )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The guard for every route of an application that is all control plane."""
        return await self.guard(handler)(request)

    def _own_host(self, host: str) -> bool:
        name = _host_name(host)
        if name is None:
            return False
        if name in self._names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True  # an address literal cannot be rebound to another machine


def _host_name(host: str) -> str | None:
    """The name in a Host header value, lower case, without its port; None when malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return inside
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return None
    return name or None


def _same_origin(origin: str, host: str) -> bool:
    """Whether ``Origin: origin`` is the control plane itself (``http://<Host>``)."""
    parts = urlsplit(origin.strip())
    return parts.scheme in {"http", "https"} and parts.netloc.lower() == host.strip().lower()
