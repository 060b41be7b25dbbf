"""What the balancer puts on the wire, byte for byte: the request a target receives and the
reply a browser receives, for the inputs where a proxy most often goes wrong.

The whole path through real sockets is in test_lb_proxy.py and test_edge*.py; these check the
rewriting itself, one input at a time, as ALB does it (docs/edge.md).
"""

from __future__ import annotations

import pytest

from lb.backend import Reply
from lb.messages import IncomingRequest
from lb.proxy import _origin_form, _outgoing, _response, cookie_values


def request(
    method: bytes = b"GET",
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    *,
    keep_alive: bool = True,
) -> IncomingRequest:
    return IncomingRequest(method, target, headers or [], body, "203.0.113.7", keep_alive)


def sent(req: IncomingRequest) -> list[bytes]:
    head, _, body = _outgoing(req).partition(b"\r\n\r\n")
    assert body == req.body
    return head.split(b"\r\n")


def test_a_target_gets_the_request_with_forwarding_headers_and_without_hop_by_hop_ones() -> None:
    lines = sent(
        request(
            headers=[
                (b"Host", b"www.example.com"),
                (b"Connection", b"keep-alive,X-Drop-Me"),  # no space after the comma
                (b"X-Drop-Me", b"named by Connection"),
                (b"Keep-Alive", b"timeout=5"),
                (b"X-Forwarded-Proto", b"https"),  # the client's claim: replaced
                (b"Accept", b"text/html"),  # after the dropped ones: still sent
                (b"X-Forwarded-For", b"198.51.100.1"),
                (b"Cookie", b"a=1"),
            ]
        )
    )
    assert lines == [
        b"GET / HTTP/1.1",
        b"Accept: text/html",
        b"Cookie: a=1",
        b"Host: www.example.com",
        b"X-Forwarded-For: 198.51.100.1, 203.0.113.7",  # appended, as ALB does by default
        b"X-Forwarded-Proto: http",
    ]


def test_a_header_of_connection_s_length_is_not_taken_for_connection() -> None:
    lines = sent(request(headers=[(b"X-Customer", b"Accept"), (b"Accept", b"*/*")]))
    assert b"Accept: */*" in lines
    assert b"X-Customer: Accept" in lines


@pytest.mark.parametrize(
    ("method", "body", "length"),
    [
        (b"GET", b"", None),  # nothing to frame
        (b"POST", b"", b"Content-Length: 0"),  # a POST always says how long its body is
        (b"POST", b"a=1", b"Content-Length: 3"),
        (b"GET", b"odd", b"Content-Length: 3"),
    ],
)
def test_a_body_is_framed_by_its_length(method: bytes, body: bytes, length: bytes | None) -> None:
    lines = sent(request(method, body=body, headers=[(b"Transfer-Encoding", b"chunked")]))
    framing = [line for line in lines if line.lower().startswith((b"content-length", b"transfer"))]
    assert framing == ([length] if length else [])


def test_a_request_without_host_names_the_balancer() -> None:
    assert b"Host: balancer" in sent(request())


@pytest.mark.parametrize(
    ("target", "path", "authority"),
    [
        (b"/p?q=1", b"/p?q=1", None),
        (b"*", b"*", None),  # OPTIONS *
        (b"/x://y", b"/x://y", None),  # a path that looks like a URL is still a path
        (b"abcdefgh://x/y", b"abcdefgh://x/y", None),  # "://" past the tenth byte: no scheme
        (b"http://h:8080/p?q=1#frag", b"/p?q=1", b"h:8080"),
        (b"http://user:pw@h/p", b"/p", b"h"),
        (b"http://h", b"/", b"h"),
        (b"http://h/next?u=http://x/y", b"/next?u=http://x/y", b"h"),
    ],
)
def test_an_absolute_form_target_becomes_a_path_and_a_host(
    target: bytes, path: bytes, authority: bytes | None
) -> None:
    assert _origin_form(target) == (path, authority)


@pytest.mark.parametrize(
    ("headers", "value"),
    [
        ([(b"Cookie", b"a=1; AWSALB=abc==; b=2")], "abc=="),  # base64 padding kept
        ([(b"cookie", b'AWSALB="quoted"')], "quoted"),
        ([(b"Cookie", b"a=1"), (b"Cookie", b"AWSALB=second")], "second"),
        ([(b"Referer", b"http://x/?AWSALB=forged")], None),  # only Cookie headers count
        ([(b"Accept", b"AWSALB=forged")], None),
        ([(b"X-Cookie", b"AWSALB=forged")], None),
        ([(b"Cookie", b'AWSALB="endsX"')], "endsX"),
        ([(b"Cookie", b"XAWSALB=near; AWSALBX=miss")], None),
    ],
)
def test_the_session_cookie_is_read_only_from_cookie_headers(
    headers: list[tuple[bytes, bytes]], value: str | None
) -> None:
    assert cookie_values(headers, "AWSALB") == ([] if value is None else [value])


def test_a_reply_to_head_keeps_the_length_of_the_body_it_does_not_send() -> None:
    reply = Reply(200, [(b"Content-Length", b"1234"), (b"Content-Type", b"text/html")], b"")
    data = _response(reply, request(b"HEAD"), None).data
    assert data.split(b"\r\n") == [
        b"HTTP/1.1 200 OK",
        b"Content-Length: 1234",
        b"Content-Type: text/html",
        b"",
        b"",
    ]
    got = _response(Reply(200, [(b"Content-Length", b"1234")], b"body"), request(), None).data
    assert got.split(b"\r\n") == [b"HTTP/1.1 200 OK", b"Content-Length: 4", b"", b"body"]


def test_a_reply_is_framed_anew_whatever_the_target_sent() -> None:
    reply = Reply(
        599,  # a status without a reason phrase of its own
        [(b"Connection", b"close"), (b"Content-Type", b"text/plain"), (b"Keep-Alive", b"x")],
        b"odd",
    )
    response = _response(reply, request(keep_alive=False), b"AWSALB=v; Path=/")
    assert response.data.split(b"\r\n") == [
        b"HTTP/1.1 599 Unknown",
        b"Content-Type: text/plain",  # kept although a hop-by-hop header came first
        b"Set-Cookie: AWSALB=v; Path=/",
        b"Content-Length: 3",
        b"Connection: close",
        b"",
        b"odd",
    ]
    assert response.close
    kept = _response(Reply(304, [(b"Content-Length", b"99")], b""), request(), None)
    assert kept.data == b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
    assert not kept.close
    head = _response(Reply(200, [(b"Content-Length", b"4")], b"body"), request(b"HEAD"), None)
    assert head.data.endswith(b"\r\n\r\n")  # a body a target sends to a HEAD is not passed on
