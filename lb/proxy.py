"""The balancer's data path: route a request to its session's target, forward it, answer.

Modelled on ALB duration-based stickiness (docs/edge.md): a new session goes to a healthy
target in turn (or the least outstanding one), gets an opaque authenticated cookie, and keeps
that target while it is healthy; the cookie's expiry is renewed on every reply. Unlike ALB, a
GET or HEAD that cannot be served (connection failure, or a dispatcher reporting its publisher
unreachable) is retried once on another target, as HAProxy's ``redispatch`` does; other methods
never are. Like ALB, the ``Host`` header and the ``Cookie`` header (stickiness cookie included)
go to the target as the browser sent them, with ``X-Forwarded-For`` and ``X-Forwarded-Proto``.

The public port answers one path of its own, ``GET /lb/health`` (what an ALB health page
would be); everything else goes to the estate. The control plane (status, metrics,
register/deregister) is on the admin listener (``lb.admin``, loopback), never here.

What goes to a target is framed anew: hop-by-hop headers are dropped (RFC 9110 7.6.1:
``Connection`` and every header it names, ``Keep-Alive``, ``Proxy-Connection``, ``TE``,
``Trailer``, ``Transfer-Encoding``, ``Upgrade``), and ``Expect`` too, since the balancer has
read the body itself; an absolute-form target (``GET http://host/path``) is sent in origin form
with ``Host`` taken from it (RFC 9112 3.2.2). Replies lose their hop-by-hop headers the same way.
"""

from __future__ import annotations

import http
import logging

from core.forwarding import DISPATCHER_ERROR_HEADER, HOP_BY_HOP
from lb.backend import BackendPool, Deadlines, Reply
from lb.messages import IncomingRequest, Respond, Response, simple_response
from lb.state import Balancer
from lb.targets import Target

RETRYABLE_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT = frozenset({b"GET", b"HEAD"})
HEALTH_PATH = b"/lb/health"
# Not passed on: hop-by-hop (with Host and Content-Length, which are set anew), Expect (the
# body is already read), Proxy-Connection (a non-standard hop-by-hop header).
_HOP_BY_HOP = frozenset(h.encode() for h in HOP_BY_HOP) | {b"proxy-connection", b"expect"}
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive"})
_ERROR_HEADER = DISPATCHER_ERROR_HEADER.lower().encode()
_REASONS = {s.value: s.phrase.encode() for s in http.HTTPStatus}
_NO_BODY_STATUSES = frozenset({204, 304})
_TIMED_OUT = Reply(504, [(b"Content-Type", b"text/plain")], b"504 target timed out\n")

logger = logging.getLogger(__name__)


class Proxy:
    """Answers every request that reaches the balancer; one per balancer process."""

    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self._deadlines = Deadlines()
        self.pools = {t.id: _pool_for(t.url, self._deadlines) for t in balancer.pool.targets}
        self.timeout = balancer.config.timeout
        sticky = balancer.config.sticky
        self.sticky = sticky.enabled
        self._cookie_name = sticky.cookie
        self._cookie_prefix = f"{sticky.cookie}=".encode()
        secure = "; Secure" if sticky.secure else ""
        self._cookie_suffix = (
            f"; Max-Age={int(sticky.duration)}; Path=/; HttpOnly; SameSite=Lax{secure}"
        ).encode()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self._deadlines.close()

    def handle(self, request: IncomingRequest, respond: Respond) -> None:
        if request.target == HEALTH_PATH and request.method in IDEMPOTENT:
            respond(self._health(request))
            return
        balancer = self.balancer
        balancer.counters.requests += 1
        target, new_session = self.route(request)
        if target is None:
            balancer.counters.no_target += 1
            respond(simple_response(503, "Service Unavailable", "503 no target available\n"))
            return
        _Trip(self, request, respond, target, new_session).send()

    def route(self, request: IncomingRequest) -> tuple[Target | None, bool]:
        """The session's target if its cookie is valid and the target usable; else a new one."""
        balancer = self.balancer
        pool = balancer.pool
        if self.sticky and (values := cookie_values(request.headers, self._cookie_name)):
            now = balancer.clock()
            named = {balancer.codec.decode(value, now=now) for value in values}
            # Decide on every occurrence: one target named by all, else no session at all (a
            # forged or stale copy beside a valid one must not choose the publisher).
            current = pool.get(named.pop()) if len(named) == 1 else None
            if current is not None and pool.usable(current):
                return current, False
            if current is not None:
                balancer.counters.sessions_moved += 1
        return pool.choose(), True

    def cookie_for(self, target: Target) -> bytes:
        """Renew the session cookie (ALB renews its expiry on every reply)."""
        balancer = self.balancer
        value = balancer.codec.encode(
            target.id, expires_at=balancer.clock() + balancer.config.sticky.duration
        )
        return self._cookie_prefix + value.encode() + self._cookie_suffix

    def _health(self, request: IncomingRequest) -> Response:
        """200 once health checks have run and found a target to send to; 503 before."""
        serving = self.balancer.serving()
        body = b'{"status": "serving"}' if serving else b'{"status": "starting"}'
        reply = Reply(
            200 if serving else 503,
            [(b"Content-Type", b"application/json"), (b"Cache-Control", b"no-store")],
            body,
        )
        return _response(reply, request, None)


class _Trip:
    """One request's way through the balancer: to its target, maybe to one other, and back."""

    __slots__ = (
        "_idempotent",
        "_new_session",
        "_outgoing",
        "_proxy",
        "_request",
        "_respond",
        "_retries",
        "_target",
        "_tried",
    )

    def __init__(
        self,
        proxy: Proxy,
        request: IncomingRequest,
        respond: Respond,
        target: Target,
        new_session: bool,
    ) -> None:
        self._proxy = proxy
        self._request = request
        self._respond = respond
        self._target = target
        self._new_session = new_session
        self._idempotent = request.method in IDEMPOTENT
        retry = proxy.balancer.config.retry_idempotent and self._idempotent
        self._retries = 1 if retry else 0
        self._outgoing = _outgoing(request)
        self._tried = [target.id]

    def send(self) -> None:
        target = self._target
        target.in_flight += 1
        target.requests += 1
        self._proxy.pools[target.id].exchange(
            self._outgoing,
            head=self._request.method == b"HEAD",
            reuse=self._idempotent,
            timeout=self._proxy.timeout,
            done=self._replied,
        )

    def _replied(self, reply: Reply | None, error: Exception | None) -> None:
        self._target.in_flight -= 1
        try:
            if isinstance(error, TimeoutError):
                self._target.errors += 1
                self._finish(_TIMED_OUT)  # never retried: the target may have acted on it
                return
            problem = self._problem(reply)
            if problem is None:
                self._finish(reply)
            else:
                self._try_another(reply, problem)
        except Exception:  # a bug here must not leave the browser waiting
            logger.exception("the balancer failed to forward a request")
            self._respond(simple_response(500, "Internal Server Error", "internal error\n"))

    def _problem(self, reply: Reply | None) -> str | None:
        """Why another target should be tried, or None when ``reply`` is the answer."""
        if reply is None:
            self._target.errors += 1
            return "connection failed"
        if reply.status in RETRYABLE_STATUSES:
            for name, value in reply.headers:
                if name.lower() == _ERROR_HEADER:
                    self._target.errors += 1
                    return f"{value.decode(errors='replace')} ({reply.status})"
        return None

    def _try_another(self, reply: Reply | None, problem: str) -> None:
        proxy = self._proxy
        pool = proxy.balancer.pool
        pool.mark_down(self._target, problem)
        alternative = pool.choose(exclude=frozenset(self._tried)) if self._retries else None
        if alternative is None:
            self._finish(reply)
            return
        self._retries -= 1
        proxy.balancer.counters.retries += 1
        self._target, self._new_session = alternative, True
        self._tried.append(alternative.id)
        self.send()

    def _finish(self, reply: Reply | None) -> None:
        if reply is None:
            self._respond(
                simple_response(502, "Bad Gateway", "502 no target could serve the request\n")
            )
            return
        cookie = None
        if self._proxy.sticky:
            if self._new_session:
                self._target.sessions += 1
            cookie = self._proxy.cookie_for(self._target)
        self._respond(_response(reply, self._request, cookie))


def _pool_for(url: str, deadlines: Deadlines) -> BackendPool:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return BackendPool(host, int(port), deadlines)


def cookie_values(headers: list[tuple[bytes, bytes]], name: str) -> list[str]:
    """Every value of cookie ``name`` in every Cookie header (a request may repeat both the
    header and the cookie), without a full cookie parse."""
    wanted = name.encode()
    found = []
    for header, value in headers:
        if len(header) == 6 and header.lower() == b"cookie" and wanted in value:
            for part in value.split(b";"):
                key, _, text = part.strip().partition(b"=")
                if key == wanted:
                    found.append(text.strip(b'"').decode("latin-1"))
    return found


def _outgoing(request: IncomingRequest) -> bytes:
    """The request as sent to a target: hop-by-hop headers dropped, X-Forwarded-* added."""
    target, authority = _origin_form(request.target)
    lines = [request.method, b" ", target, b" HTTP/1.1\r\n"]
    forwarded_for = request.client.encode()
    host = authority
    named = _named_by_connection(request.headers)
    for name, value in request.headers:
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower in named:
            if lower == b"host" and host is None:
                host = value
            continue
        if lower == b"x-forwarded-for":
            forwarded_for = value + b", " + forwarded_for  # ALB's default: append
            continue
        if lower == b"x-forwarded-proto":
            continue
        lines += (name, b": ", value, b"\r\n")
    lines += (b"Host: ", host or b"balancer", b"\r\n")
    lines += (b"X-Forwarded-For: ", forwarded_for, b"\r\nX-Forwarded-Proto: http\r\n")
    if request.body or request.method not in IDEMPOTENT:
        lines.append(b"Content-Length: %d\r\n" % len(request.body))
    lines += (b"\r\n", request.body)
    return b"".join(lines)


def _origin_form(target: bytes) -> tuple[bytes, bytes | None]:
    """``http://host:port/path?q`` as ``/path?q`` and its authority; other forms unchanged."""
    if target[:1] == b"/" or b"://" not in target[:10]:
        return target, None
    _, _, rest = target.partition(b"://")
    authority, slash, path = rest.partition(b"/")
    path, _, _ = (slash + path).partition(b"#")
    return (path or b"/"), authority.rpartition(b"@")[2] or None


def _named_by_connection(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The headers a ``Connection`` header names as hop-by-hop (RFC 9110 7.6.1)."""
    named: set[bytes] = set()
    for name, value in headers:
        if len(name) == 10 and name.lower() == b"connection":
            named.update(t.strip().lower() for t in value.split(b","))
    return frozenset(named - _CONNECTION_OPTIONS) if named else frozenset()


def _response(reply: Reply, request: IncomingRequest, cookie: bytes | None) -> Response:
    """The reply as sent to the browser, with the session cookie and our own framing."""
    status = reply.status
    keeps_length = request.method == b"HEAD" or status == 304  # the length of a body not sent
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
    named = _named_by_connection(reply.headers)
    for name, value in reply.headers:
        lower = name.lower()
        if (lower in _HOP_BY_HOP or lower in named) and not (
            keeps_length and lower == b"content-length"
        ):
            continue
        lines += (name, b": ", value, b"\r\n")
    if cookie is not None:
        lines += (b"Set-Cookie: ", cookie, b"\r\n")
    if not keeps_length and status not in _NO_BODY_STATUSES and status >= 200:
        lines.append(b"Content-Length: %d\r\n" % len(reply.body))
    if not request.keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    if request.method != b"HEAD" and status not in _NO_BODY_STATUSES:
        lines.append(reply.body)
    return Response(b"".join(lines), close=not request.keep_alive)
