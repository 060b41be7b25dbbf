"""What the balancer's two sides pass around: a request as a client sent it, a response as
it goes back, and the edge's own refusals (each closes the connection)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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


REFUSALS = {
    400: simple_response(400, "Bad Request", "malformed request\n", close=True),
    408: simple_response(408, "Request Timeout", "request not received in time\n", close=True),
    413: simple_response(413, "Content Too Large", "body too large\n", close=True),
    414: simple_response(414, "URI Too Long", "request line too long\n", close=True),
    431: simple_response(
        431, "Request Header Fields Too Large", "request head too large\n", close=True
    ),
    501: simple_response(501, "Not Implemented", "upgrades are not supported\n", close=True),
    503: simple_response(503, "Service Unavailable", "too many connections\n", close=True),
}
