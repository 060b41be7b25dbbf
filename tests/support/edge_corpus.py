"""Raw requests, well-formed and malformed, that the built-in balancer and HAProxy are both
sent (tests/test_edge_differential.py). Each is bytes on a new connection, with the number of
responses it asks for. Paths under ``/static/`` reach the echo publishers through the
dispatchers' allow-list; other paths are refused there (404)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    replies: int = 1
    heads: tuple[int, ...] = ()  # which of the replies answer a HEAD (they have no body)


def _req(line: str, *headers: str, body: bytes = b"") -> bytes:
    return ("\r\n".join([line, *headers, "", ""])).encode("latin-1") + body


H = "Host: www.example.com"

CORPUS: tuple[Case, ...] = (
    # --- well-formed -------------------------------------------------------------------------
    Case("get-root", _req("GET / HTTP/1.1", H)),
    Case("get-static", _req("GET /static/site.css HTTP/1.1", H)),
    Case("head-static", _req("HEAD /static/site.css HTTP/1.1", H), heads=(0,)),
    Case("get-query", _req("GET /static/a.js?v=3&x=%20 HTTP/1.1", H)),
    Case("post-form", _req("POST /static/form HTTP/1.1", H, "Content-Length: 7", body=b"a=1&b=2")),
    Case("put", _req("PUT /static/x HTTP/1.1", H, "Content-Length: 3", body=b"abc")),
    Case("delete", _req("DELETE /static/x HTTP/1.1", H)),
    Case("options", _req("OPTIONS /static/x HTTP/1.1", H)),
    Case("purge", _req("PURGE /static/x HTTP/1.1", H)),
    Case("connection-close", _req("GET /static/a HTTP/1.1", H, "Connection: close")),
    Case("http10-with-host", _req("GET /static/a HTTP/1.0", H)),
    Case("http10-without-host", _req("GET /static/a HTTP/1.0")),
    Case("header-8kb", _req("GET /static/a HTTP/1.1", H, "X-Big: " + "a" * 8000)),
    Case(
        "many-small-headers", _req("GET /static/a HTTP/1.1", H, *[f"X-{i}: v" for i in range(90)])
    ),
    Case(
        "chunked-post",
        _req(
            "POST /static/c HTTP/1.1",
            H,
            "Transfer-Encoding: chunked",
            body=b"3\r\nabc\r\n0\r\n\r\n",
        ),
    ),
    Case(
        "chunked-with-trailer",
        _req(
            "POST /static/c HTTP/1.1",
            H,
            "Transfer-Encoding: chunked",
            body=b"3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
        ),
    ),
    Case(
        "post-expect-continue",
        _req(
            "POST /static/e HTTP/1.1", H, "Content-Length: 3", "Expect: 100-continue", body=b"abc"
        ),
    ),
    Case("get-expect-continue", _req("GET /static/e HTTP/1.1", H, "Expect: 100-continue")),
    Case("get-with-body", _req("GET /static/b HTTP/1.1", H, "Content-Length: 5", body=b"hello")),
    Case("absolute-form", _req("GET http://www.example.com/static/abs HTTP/1.1", H)),
    Case(
        "cookie-and-xff",
        _req("GET /static/a HTTP/1.1", H, "Cookie: a=b", "X-Forwarded-For: 1.2.3.4"),
    ),
    Case("connection-named", _req("GET /static/a HTTP/1.1", H, "Connection: X-Foo", "X-Foo: 1")),
    Case(
        "pipelined-three",
        _req("GET /static/1 HTTP/1.1", H)
        + _req("HEAD /static/2 HTTP/1.1", H)
        + _req("GET /static/3 HTTP/1.1", H),
        replies=3,
        heads=(1,),
    ),
    Case(
        "pipelined-get-post-get",
        _req("GET /static/1 HTTP/1.1", H)
        + _req("POST /static/2 HTTP/1.1", H, "Content-Length: 2", body=b"ok")
        + _req("GET /static/3 HTTP/1.1", H),
        replies=3,
    ),
    Case("lb-health", _req("GET /lb/health HTTP/1.1", H)),
    # --- refused by the dispatcher's filter (404) -----------------------------------------------
    Case("filtered-status", _req("GET /status HTTP/1.1", H)),
    Case("filtered-traversal", _req("GET /%2e%2e/status HTTP/1.1", H)),
    Case("filtered-semicolon", _req("GET /static/..;/status HTTP/1.1", H)),
    Case("lb-status-on-public", _req("GET /lb/status HTTP/1.1", H)),
    Case(
        "lb-deregister-on-public",
        _req("POST /lb/targets/d1/deregister HTTP/1.1", H, "Content-Length: 0"),
    ),
    Case("asterisk-form", _req("OPTIONS * HTTP/1.1", H)),
    # --- malformed ---------------------------------------------------------------------------
    Case("nonsense", b"NONSENSE\r\n\r\n"),
    Case("no-host-http11", _req("GET /static/a HTTP/1.1")),
    Case("two-hosts", _req("GET /static/a HTTP/1.1", H, "Host: evil.example")),
    Case(
        "cl-and-te",
        _req(
            "POST /static/a HTTP/1.1",
            H,
            "Content-Length: 4",
            "Transfer-Encoding: chunked",
            body=b"0\r\n\r\n",
        ),
        replies=2,
    ),
    Case(
        "duplicate-cl-different",
        _req("POST /static/a HTTP/1.1", H, "Content-Length: 4", "Content-Length: 5", body=b"abcde"),
    ),
    Case("cl-not-a-number", _req("POST /static/a HTTP/1.1", H, "Content-Length: abc", body=b"x")),
    Case(
        "bad-chunk-size",
        _req(
            "POST /static/a HTTP/1.1",
            H,
            "Transfer-Encoding: chunked",
            body=b"zz\r\nabc\r\n0\r\n\r\n",
        ),
    ),
    Case("bare-lf", b"GET /static/a HTTP/1.1\nHost: www.example.com\n\n"),
    Case("obs-fold", _req("GET /static/a HTTP/1.1", H, "X-Folded: a", " b")),
    Case("space-before-colon", _req("GET /static/a HTTP/1.1", H, "X-Bad : v")),
    Case("bad-header-name", _req("GET /static/a HTTP/1.1", H, "X(Bad): v")),
    Case("nul-in-value", _req("GET /static/a HTTP/1.1", H, "X-Nul: a\x00b")),
    Case("two-spaces-in-line", _req("GET  /static/a HTTP/1.1", H)),
    Case("http-2-version", _req("GET /static/a HTTP/2.0", H)),
    Case("lowercase-method", _req("get /static/a HTTP/1.1", H)),
    Case("request-line-17kb", _req("GET /static/" + "a" * 17_000 + " HTTP/1.1", H)),
    Case("header-17kb", _req("GET /static/a HTTP/1.1", H, "X-Big: " + "b" * 17_000)),
    Case(
        "head-70kb",
        _req("GET /static/a HTTP/1.1", H, *[f"X-{i}: " + "c" * 7000 for i in range(10)]),
    ),
    Case(
        "body-over-limit",
        _req("POST /static/a HTTP/1.1", H, "Content-Length: 5000000", "Expect: 100-continue"),
    ),
    Case(
        "websocket-upgrade",
        _req("GET /static/ws HTTP/1.1", H, "Connection: Upgrade", "Upgrade: websocket"),
    ),
    Case("connect", _req("CONNECT www.example.com:443 HTTP/1.1", H)),
    Case(
        "pipelined-then-garbage",
        _req("GET /static/1 HTTP/1.1", H) + _req("GET /static/2 HTTP/1.1", H) + b"NONSENSE\r\n\r\n",
        replies=3,
    ),
)
