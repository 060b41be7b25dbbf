"""The balancer's side facing browsers: an HTTP/1.1 server as an asyncio ``Protocol``.

Requests are parsed with ``httptools``, read whole (bodies up to ``MAX_BODY``), and answered in
order on each connection (pipelined requests wait their turn). What to answer is the handler's
job (:mod:`lb.proxy`): it is called with the request and a ``respond`` callback, and calls it
once, now or when the target has replied. This module only frames HTTP: keep-alive,
``Connection: close``, 400 for a request that does not parse, 413 for a body that is too large.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools

logger = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
MAX_QUEUED = 32  # pipelined requests read ahead before reading pauses


@dataclass(slots=True)  # not frozen: a frozen __init__ is slow on the hot path
class IncomingRequest:
    method: bytes
    target: bytes  # the request target as sent: path and query, still percent-encoded
    headers: list[tuple[bytes, bytes]]
    body: bytes
    client: str  # the peer's address
    keep_alive: bool


@dataclass(slots=True)  # not frozen: a frozen __init__ is slow on the hot path
class Response:
    """A whole response, already framed (status line, headers, body)."""

    data: bytes
    close: bool = False  # close the connection after sending it


Respond = Callable[[Response], None]
Handler = Callable[[IncomingRequest, Respond], None]


def simple_response(status: int, reason: str, text: str, *, close: bool = False) -> Response:
    body = text.encode()
    connection = "Connection: close\r\n" if close else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n{connection}\r\n"
    )
    return Response(head.encode() + body, close=close)


class ClientConnection(asyncio.Protocol):
    def __init__(self, handler: Handler, connections: set[ClientConnection]) -> None:
        self._handler = handler
        self._connections = connections
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._queue: collections.deque[IncomingRequest] = collections.deque()
        self._current: IncomingRequest | None = None  # being answered
        self._refusal: Response | None = None  # to send once the current one is answered
        self._url: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._paused = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        self._connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(_UPGRADE_REFUSED)
        except httptools.HttpParserError as exc:
            too_large = isinstance(exc.__context__, _BodyTooLarge)
            self._refuse(_TOO_LARGE if too_large else _MALFORMED)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._queue.clear()

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._body_size = [], [], [], 0

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > MAX_BODY:
            raise _BodyTooLarge
        self._body.append(body)

    def on_message_complete(self) -> None:
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
        if len(self._queue) >= MAX_QUEUED and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        if self._current is None:
            self._answer_next()

    # --- answering -------------------------------------------------------------------------

    def _answer_next(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not self._queue:
            if self._refusal is not None:
                transport.write(self._refusal.data)
                transport.close()
            elif self._paused:
                self._paused = False
                transport.resume_reading()
            return
        self._current = request = self._queue.popleft()
        try:
            self._handler(request, self._respond)
        except Exception:  # a bug in the handler must not leave the browser waiting
            logger.exception("the balancer failed to answer a request")
            self._respond(simple_response(500, "Internal Server Error", "internal error\n"))

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

    def _refuse(self, response: Response) -> None:
        """Answer a request that could not be parsed, after those before it, and close."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.pause_reading()
        self._refusal = response
        if self._current is None:
            self._answer_next()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _BodyTooLarge(Exception):
    pass


_UPGRADE_REFUSED = simple_response(
    501, "Not Implemented", "upgrades are not supported\n", close=True
)
_TOO_LARGE = simple_response(413, "Content Too Large", "body too large\n", close=True)
_MALFORMED = simple_response(400, "Bad Request", "malformed request\n", close=True)
