"""The token call against any RFC 6749 server: every reply is a grant or a typed error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tokensim_token import (
    ClientCredentialsClient,
    ConfigurationError,
    ImsThrottled,
    ImsUnavailable,
    InvalidClient,
    MalformedReply,
)
from tokensim_token.backoff import parse_retry_after
from tokensim_token.client import parse_token_reply
from tokensim_token.secrets import Secret

from tests.support.world import serve

SECRET = "the-client-secret-123"


class OAuthServer:
    """A standards-compliant client-credentials endpoint that answers what a test tells it."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {
            "access_token": "opaque-token-value",
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        self.headers: dict[str, str] = {}
        self.seen: list[tuple[str, dict[str, str], str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.seen.append(
            (
                str(request.url),
                {k: str(v) for k, v in form.items()},
                request.headers.get("User-Agent", ""),
            )
        )
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return web.Response(
            status=self.status, text=text, headers=self.headers, content_type="application/json"
        )


async def client_for(
    stack: contextlib.AsyncExitStack, server: OAuthServer
) -> ClientCredentialsClient:
    app = web.Application()
    app.router.add_post("/oauth/token", server.handle)
    url = await serve(stack, app)
    session = aiohttp.ClientSession()
    stack.push_async_callback(session.close)
    return token_client(session, f"{url}/oauth/token")


def token_client(
    session: aiohttp.ClientSession, url: str, timeout: float = 5
) -> ClientCredentialsClient:
    return ClientCredentialsClient(
        session,
        token_url=url,
        client_id="cid",
        scope="openid,AdobeID",
        timeout=timeout,
        user_agent="tokensim-node/p1",
        wall_clock=time.time,
    )


async def test_standard_reply_with_capitalised_bearer_and_extra_members(
    stack: contextlib.AsyncExitStack,
) -> None:
    server = OAuthServer()
    server.body = {
        "access_token": "abc",
        "token_type": "Bearer",
        "expires_in": 3599,
        "scope": "openid",
        "ext": 1,
    }
    client = await client_for(stack, server)
    grant = await client.fetch(Secret(SECRET))
    assert grant.access_token.reveal() == "abc"
    assert grant.expires_in == 3599
    url, form, agent = server.seen[0]
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": SECRET,
        "scope": "openid,AdobeID",
    }
    assert SECRET not in url  # in the body, never the query string
    assert agent == "tokensim-node/p1"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>gateway</html>", "not a JSON object"),
        ([1, 2], "not a JSON object"),
        ({"token_type": "bearer", "expires_in": 60}, "no access_token"),
        ({"access_token": "", "token_type": "bearer", "expires_in": 60}, "no access_token"),
        ({"access_token": "t", "token_type": "mac", "expires_in": 60}, "token_type 'mac'"),
        ({"access_token": "t", "expires_in": 60}, "token_type None"),
        ({"access_token": "t", "token_type": "bearer"}, "expires_in None"),
        ({"access_token": "t", "token_type": "bearer", "expires_in": 0}, "expires_in 0"),
        ({"access_token": "t", "token_type": "bearer", "expires_in": -5}, "expires_in -5"),
        ({"access_token": "t", "token_type": "bearer", "expires_in": "3600"}, "expires_in '3600'"),
        ({"access_token": "t", "token_type": "bearer", "expires_in": 35.5}, "expires_in 35.5"),
        ({"access_token": "t", "token_type": "bearer", "expires_in": True}, "expires_in True"),
    ],
)
async def test_unusable_200_replies_are_malformed(
    stack: contextlib.AsyncExitStack, body: Any, reason: str
) -> None:
    server = OAuthServer()
    server.body = body
    client = await client_for(stack, server)
    with pytest.raises(MalformedReply, match=reason):
        await client.fetch(Secret(SECRET))


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "text"),
    [
        (429, {}, {"Retry-After": "42"}, ImsThrottled, "429"),
        (503, {"error": "temporarily_unavailable"}, {}, ImsUnavailable, "503"),
        (500, "oops", {}, ImsUnavailable, "500"),
        (
            401,
            {"error": "invalid_client", "error_description": "bad secret"},
            {},
            InvalidClient,
            "invalid_client: bad secret",
        ),
        (400, {"error": "unauthorized_client"}, {}, InvalidClient, "unauthorized_client"),
        (401, "", {}, InvalidClient, "no OAuth error"),
        (
            400,
            {"error": "invalid_scope", "error_description": "nope"},
            {},
            ConfigurationError,
            "invalid_scope",
        ),
        (
            400,
            {"error": "unsupported_grant_type"},
            {},
            ConfigurationError,
            "unsupported_grant_type",
        ),
        (404, "not found", {}, ConfigurationError, "404"),
    ],
)
async def test_error_replies_map_to_typed_errors(
    stack: contextlib.AsyncExitStack,
    status: int,
    body: Any,
    headers: dict[str, str],
    error: type[Exception],
    text: str,
) -> None:
    server = OAuthServer()
    server.status, server.body, server.headers = status, body, headers
    client = await client_for(stack, server)
    with pytest.raises(error, match=text) as caught:
        await client.fetch(Secret(SECRET))
    assert SECRET not in str(caught.value)
    if status == 429:
        assert caught.value.retry_after == 42  # type: ignore[attr-defined]
    if error is ConfigurationError:
        assert not isinstance(caught.value, InvalidClient)


async def test_unreachable_endpoint_is_unavailable(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        client = token_client(session, "http://127.0.0.1:9/ims/token/v3", timeout=2)
        with pytest.raises(ImsUnavailable, match="unreachable"):
            await client.fetch(Secret(SECRET))


async def test_an_endpoint_that_accepts_and_never_answers_fails_the_call_at_the_timeout() -> None:
    """A token endpoint that takes the request and then hangs (a stuck proxy, a full server)
    is unavailable once the client's timeout has passed, not a call that never ends."""
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read(65536)
            await release.wait()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            client = token_client(session, f"http://127.0.0.1:{port}/ims/token/v3", timeout=0.3)
            started = time.monotonic()
            with pytest.raises(ImsUnavailable, match="unreachable"):
                await asyncio.wait_for(client.fetch(Secret(SECRET)), 5)  # 5 s: a hung test
            assert 0.25 <= time.monotonic() - started < 2
    finally:
        release.set()
        server.close()


async def test_error_description_cannot_smuggle_a_token_into_logs(
    stack: contextlib.AsyncExitStack,
) -> None:
    server = OAuthServer()
    server.status = 400
    server.body = {
        "error": "invalid_request",
        "error_description": "got access_token=eyJhbGciOi.eyJzdWIiOi.c2ln",
    }
    client = await client_for(stack, server)
    with pytest.raises(ConfigurationError) as caught:
        await client.fetch(Secret(SECRET))
    assert "eyJ" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (401, {"error": 123}, InvalidClient, None),  # a 401 with no usable code: credentials
        (400, {"error": ["invalid_client"]}, ConfigurationError, None),  # not a crash
        (400, {"error": {"code": "x"}}, ConfigurationError, None),
        (400, {"error": "invalid_scope"}, ConfigurationError, "invalid_scope"),
        (401, {"error": "invalid_client"}, InvalidClient, "invalid_client"),
    ],
)
def test_an_error_code_is_taken_only_when_it_is_a_string(
    status: int, body: Any, error: type[ConfigurationError], code: str | None
) -> None:
    with pytest.raises(error) as caught:
        parse_token_reply(status, json.dumps(body).encode(), retry_after=None)
    assert type(caught.value) is error
    assert caught.value.code == code
    if code is None:
        assert "no OAuth error in body" in str(caught.value)


def test_what_a_reply_says_is_cut_short_in_messages() -> None:
    long = {"error": "invalid_request", "error_description": "d" * 500}
    with pytest.raises(ConfigurationError) as caught:
        parse_token_reply(400, json.dumps(long).encode(), retry_after=None)
    assert f"invalid_request: {'d' * 200})" in str(caught.value)  # 200 characters, no more
    odd = {"access_token": "t", "token_type": "bearer", "expires_in": "x" * 100}
    with pytest.raises(MalformedReply) as malformed:
        parse_token_reply(200, json.dumps(odd).encode(), retry_after=None)
    shown = repr("x" * 100)[:40]  # 40 characters of the value's repr, no more
    assert f"expires_in {shown}, not a positive integer" in str(malformed.value)


def test_retry_after_as_a_date_and_retryable_statuses_keep_their_wait() -> None:
    date = "Mon, 21 Sep 2026 14:14:50 GMT"
    when = parsedate_to_datetime(date).timestamp()
    assert parse_retry_after(date, now_wall=when - 30) == 30.0
    assert parse_retry_after(date, now_wall=when + 30) == 0.0  # already past: no wait
    assert parse_retry_after("soon", now_wall=when) is None
    for status in (408, 500, 503):
        with pytest.raises(ImsUnavailable) as caught:
            parse_token_reply(status, b"", retry_after=42.0)
        assert caught.value.retry_after == 42.0
    with pytest.raises(ConfigurationError):
        parse_token_reply(409, b"", retry_after=None)  # not a timeout: not retried soon


def test_a_token_that_lives_one_second_is_still_a_token() -> None:
    body = json.dumps({"access_token": "t", "token_type": "bearer", "expires_in": 1}).encode()
    assert parse_token_reply(200, body, retry_after=None).expires_in == 1
