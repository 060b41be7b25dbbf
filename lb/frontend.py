"""The balancer's side facing browsers: an HTTP/1.1 server as an asyncio ``Protocol``.

Requests are parsed with ``httptools`` (llhttp, which already refuses CL+TE, duplicate
Content-Length, obs-fold and bare LF), read whole, and answered in order on each connection.
What to answer is the handler's job (:mod:`lb.proxy`): it is called with the request and a
``respond`` callback, and calls it once, now or when the target has replied. This module owns
the framing and what one client may cost, as an edge must (AWS ALB's quotas, HAProxy's
timeouts; docs/edge.md):

* Heads: request line over ``limits.request_line`` -> 414; a header over ``limits.header`` or a
  head over ``limits.head`` -> 431; a body over ``limits.body`` -> 413 (as soon as its
  Content-Length says so). Each refusal closes the connection.
* Time: a request must arrive whole within ``header_timeout`` of its first byte (of the accept,
  for the first request), else 408 and close (HAProxy's ``timeout http-request``, the slowloris
  defence); a keep-alive connection idle for ``idle_timeout`` is closed (ALB: 60 s). Both are
  checked on a 250 ms tick, not a timer per request.
* Count: beyond ``max_connections`` a new connection gets 503 and is closed.
* Pipelining: at most ``limits.pipelined`` requests are read ahead; past that, bytes wait
  unparsed (:data:`READ_AHEAD`, plus what one socket read brought) and reading pauses, so one
  connection holds at most ``limits.per_connection``: (pipelined + 1) x (body + head), plus
  512 KiB of read-ahead.
* ``Expect: 100-continue``: the balancer reads the body itself, so it answers ``100 Continue``
  when it is ready to (nothing else pending on the connection), and never forwards ``Expect``.
* ``Upgrade`` (and CONNECT) is refused with 501 before anything is forwarded; trailers of a
  chunked body are dropped, never merged into the headers.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import cast

import httptools

from core.topology import LbConfig
from lb.messages import REFUSALS, Handler, IncomingRequest, Response, simple_response

logger = logging.getLogger(__name__)

TICK = 0.25  # seconds between checks of the client timeouts
FEED_SLICE = 16 * 1024  # bytes parsed at a time, so that read-ahead stops near its bound
READ_AHEAD = 64 * 1024  # unparsed bytes kept while requests are queued, before reading pauses
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Edge:
    """What every client connection shares: the handler, the limits, a coarse clock, and the
    open connections (for the cap and the timeout sweep). One per balancer process."""

    def __init__(
        self,
        handler: Handler,
        config: LbConfig,
        *,
        refused: collections.Counter[int] | None = None,
    ) -> None:
        self.handler = handler
        self.limits = config.limits
        self.header_timeout = config.header_timeout
        self.idle_timeout = config.idle_timeout
        self.max_connections = config.max_connections
        self.connections: set[ClientConnection] = set()
        self.refused = collections.Counter[int]() if refused is None else refused  # by status
        self.now = 0.0  # loop time, refreshed every tick: no clock read per request
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None

    def connection(self) -> ClientConnection:
        """The protocol factory for ``loop.create_server``."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._sweep()
        return ClientConnection(self)

    def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        for connection in list(self.connections):
            connection.close()

    def _sweep(self) -> None:
        assert self._loop is not None
        self.now = now = self._loop.time()
        for connection in [c for c in self.connections if c.deadline <= now]:
            connection.timed_out(now)
        self._tick = self._loop.call_later(TICK, self._sweep)


class _Refusal(Exception):
    """Raised from a parser callback to stop parsing and answer ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ClientConnection(asyncio.Protocol):
    def __init__(self, edge: Edge) -> None:
        self._edge = edge
        self._limits = edge.limits
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._queue: collections.deque[IncomingRequest] = collections.deque()
        self._current: IncomingRequest | None = None  # being answered
        self._refusal: Response | None = None  # to send once the current one is answered
        self._unparsed = bytearray()  # read ahead while the queue is full
        self._reading_paused = False
        self._writing_paused = False
        # the request being parsed
        self._url: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._line_size = 0
        self._head_size = 0  # of the headers the parser has completed
        self._head_fed = 0  # bytes fed while the head was incomplete throughout
        self._in_head = False
        self._headers_done = False
        self._expects_continue = False
        self._upgrade = False
        self._has_host = False
        self._answering = False
        # timeouts: a request must be whole by ``deadline``; idle connections close then too
        self._request_started: float | None = None
        self.deadline = float("inf")

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        edge = self._edge
        if len(edge.connections) >= edge.max_connections:
            edge.refused[503] += 1
            transport.write(REFUSALS[503].data)
            transport.close()
            return
        edge.connections.add(self)
        self._request_started = edge.now  # the first request's time runs from the accept
        self.deadline = edge.now + edge.header_timeout

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # refused: nothing more is read from this client
        if self._unparsed or len(self._queue) >= self._limits.pipelined:
            self._read_ahead(data)
        else:
            self._feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._edge.connections.discard(self)
        self._queue.clear()
        self._unparsed.clear()

    def held(self) -> int:
        """Bytes of requests this connection holds now: queued, being read, not yet parsed."""
        queued = sum(len(r.body) + len(r.target) for r in self._queue)
        current = len(self._current.body) if self._current is not None else 0
        return queued + current + self._body_size + self._head_fed + len(self._unparsed)

    def pause_writing(self) -> None:
        self._writing_paused = True  # the client does not read: answer nothing more for now

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._current is None:
            self._answer_next()

    # --- parsing ---------------------------------------------------------------------------

    def _read_ahead(self, data: bytes) -> None:
        self._unparsed += data
        if len(self._unparsed) > READ_AHEAD and not self._reading_paused:
            self._pause_reading()

    def _feed(self, data: bytes) -> None:
        if len(data) <= FEED_SLICE:
            self._feed_slice(data)
            return
        for start in range(0, len(data), FEED_SLICE):
            if self._refusal is not None:
                return
            if len(self._queue) >= self._limits.pipelined:
                self._read_ahead(data[start:])
                return
            self._feed_slice(data[start : start + FEED_SLICE])

    def _feed_slice(self, data: bytes) -> None:
        head_throughout = self._in_head
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(501)
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._refuse(cause.status if isinstance(cause, _Refusal) else 400)
            return
        if head_throughout and self._in_head:
            # All of this slice belongs to one head still incomplete; the parser holds it.
            self._head_fed += len(data)
            if self._head_fed > self._limits.head:
                self._refuse(431)

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body = [], [], []
        self._body_size = self._line_size = self._head_size = self._head_fed = 0
        self._in_head, self._headers_done = True, False
        self._expects_continue = self._upgrade = self._has_host = False
        if self._request_started is None:
            self._request_started = now = self._edge.now
            self.deadline = now + self._edge.header_timeout

    def on_url(self, url: bytes) -> None:
        self._line_size += len(url)
        if self._line_size > self._limits.request_line:
            raise _Refusal(414)
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers_done:
            return  # a trailer of a chunked body: dropped, never merged into the headers
        size = len(name) + len(value) + 2  # "name: value"
        self._head_size += size + 2
        if size > self._limits.header or self._head_size + self._line_size > self._limits.head:
            raise _Refusal(431)
        if len(name) == 4 and name.lower() == b"host":
            if self._has_host:
                raise _Refusal(400)  # two Host headers: RFC 9112 3.2 says 400
            self._has_host = True
        elif len(name) == 6 and name.lower() == b"expect":
            self._expects_continue = value.strip().lower() == b"100-continue"
        elif len(name) == 14 and name.lower() == b"content-length":
            self._check_length(value)
        self._headers.append((name, value))

    def _check_length(self, value: bytes) -> None:
        """Refuse a body too large before it is sent (400 for a length that is no number)."""
        digits = value.strip()
        if not digits.isdigit():
            raise _Refusal(400)
        if int(digits) > self._limits.body:
            raise _Refusal(413)

    def on_headers_complete(self) -> None:
        self._in_head, self._headers_done = False, True
        parser = self._parser
        if not self._has_host and parser.get_http_version() == "1.1":
            raise _Refusal(400)  # HTTP/1.1 without Host: RFC 9112 3.2 says 400
        if parser.should_upgrade():
            self._upgrade = True  # refused when the parser stops at it; never forwarded
        elif (
            self._expects_continue
            and self._current is None
            and not self._queue
            and not self._writing_paused
            and self._transport is not None
            and parser.get_http_version() == "1.1"
        ):
            self._transport.write(CONTINUE)  # we read the body ourselves: ask for it now

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.body:
            raise _Refusal(413)
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._request_started = None
        self.deadline = float("inf")
        if self._upgrade:
            return
        self._queue.append(
            IncomingRequest(
                method=self._parser.get_method(),
                target=b"".join(self._url),
                headers=self._headers,
                body=b"".join(self._body),
                client=self._client,
                keep_alive=self._parser.should_keep_alive(),
            )
        )
        if self._current is None:
            self._answer_next()

    # --- answering -------------------------------------------------------------------------

    def _answer_next(self) -> None:
        """Answer queued requests in order until one is waiting on a target. A loop, not
        recursion: many pipelined requests answered at once must not nest calls."""
        if self._answering:
            return  # the loop below is running further up the stack: it takes the next one
        self._answering = True
        try:
            while self._current is None and self._can_write():
                if self._queue:
                    self._current = request = self._queue.popleft()
                    try:
                        self._edge.handler(request, self._respond)
                    except Exception:  # a bug in the handler must not leave the browser waiting
                        logger.exception("the balancer failed to answer a request")
                        self._respond(simple_response(500, "Internal Server Error", "error\n"))
                elif self._refusal is not None:
                    self._send_refusal()
                elif self._unparsed:
                    data, self._unparsed = bytes(self._unparsed), bytearray()
                    self._feed(data)  # queues what it completes; the loop answers it
                else:
                    self._now_idle()
                    return
        finally:
            self._answering = False

    def _can_write(self) -> bool:
        transport = self._transport
        return transport is not None and not transport.is_closing() and not self._writing_paused

    def _send_refusal(self) -> None:
        assert self._transport is not None
        assert self._refusal is not None
        self._transport.write(self._refusal.data)
        self._transport.close()

    def _now_idle(self) -> None:
        """Everything asked is answered: read again, and close if it stays idle too long."""
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        if self._request_started is None:  # nothing being read either
            self.deadline = self._edge.now + self._edge.idle_timeout

    def _respond(self, response: Response) -> None:
        request, self._current = self._current, None
        transport = self._transport
        if request is None or transport is None or transport.is_closing():
            return
        transport.write(response.data)
        if response.close or not request.keep_alive:
            transport.close()
            return
        self._answer_next()

    def _refuse(self, status: int) -> None:
        """Answer ``status`` after the requests before it, and close: nothing more is read."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._refusal is not None:
            return
        self._edge.refused[status] += 1
        self._pause_reading()
        self._unparsed.clear()
        self._refusal = REFUSALS[status]
        if self._current is None:
            self._answer_next()

    def _pause_reading(self) -> None:
        if self._transport is not None and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def timed_out(self, now: float) -> None:
        """The request did not arrive whole in time (408), or the connection sat idle."""
        started = self._request_started
        if started is not None and self._in_head | self._headers_done | bool(self._url):
            self.deadline = float("inf")
            self._refuse(408)  # some of a request came, too slowly: say so, then close
        else:
            self.close()  # idle (or nothing sent since the accept): close without a word

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
