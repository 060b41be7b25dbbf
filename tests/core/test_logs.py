"""Log redaction: the second line of defence, should a token or secret reach a log line."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from tokensim_token.redaction import MASK, redact
from tokensim_token.secrets import Secret

from core.logs import RedactingFormatter, configure_logging
from core.service import app_runner

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJjbGllbnRfaWQiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
OPAQUE = "0a1b2c3d4e5f-opaque-credential"


@contextlib.contextmanager
def service_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What a service writes to stderr, with the root logger put back afterwards."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {OPAQUE}",
        f"Authorization: Bearer  {OPAQUE}",  # two spaces
        f"Authorization: Bearer\t{OPAQUE}",
        f"authorization: bearer {OPAQUE}",
        f'{{"access_token": "{OPAQUE}", "expires_in": 86399}}',
        f'{{"accessToken": "{OPAQUE}"}}',
        f"AccessToken={OPAQUE}",
        f"access-token: {OPAQUE}",
        f"client_secret={OPAQUE}&client_id=x",
        f"clientSecret: '{OPAQUE}'",
        f"refreshToken={OPAQUE}",
        f"id_token={OPAQUE}",
        f"grant_type=client_credentials&client_secret={OPAQUE}",
        f"token {TOKEN} refused",
        f"got {TOKEN}",
    ],
)
def test_a_credential_in_a_line_is_masked(line: str) -> None:
    out = redact(line)
    assert OPAQUE not in out
    assert TOKEN not in out
    assert MASK in out


@pytest.mark.parametrize(
    "line",
    ["5 token calls in 3 lifetimes", "refresh_count=3", "tokens_issued: 4", "p1: token fp 3f2a"],
)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert redact(line) == line


def test_a_configured_secret_is_masked_wherever_it_appears() -> None:
    secret = Secret("s3cret-value-9")
    assert redact("oops: s3cret-value-9 leaked", [secret]) == f"oops: {MASK} leaked"


def test_every_logger_of_a_service_is_redacted_tracebacks_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with service_log(monkeypatch) as stream:
        configure_logging("p1", "DEBUG", [Secret(OPAQUE)])
        for name in ("tokensim_token.refreshing", "aiohttp.client", "lb.proxy", "upstream.ims"):
            logging.getLogger(name).warning("sent Authorization: Bearer  %s", TOKEN)
        try:
            raise ValueError(f"reply was {{'accessToken': '{OPAQUE}'}}")
        except ValueError:
            logging.getLogger("node.app").exception("call failed")
    text = stream.getvalue()
    assert text.count("sent Authorization: Bearer") == 4
    assert "Traceback" in text
    assert TOKEN not in text
    assert OPAQUE not in text


def test_the_formatter_masks_arguments_as_well_as_the_message() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (TOKEN,), None)
    assert TOKEN not in RedactingFormatter("%(message)s").format(record)


def test_a_secret_shows_only_stars_and_compares_by_value() -> None:
    secret = Secret(OPAQUE)
    assert repr(secret) == "Secret('**********')"
    assert str(secret) == f"{secret}" == "**********"
    assert OPAQUE not in repr([secret]) + repr({"s": secret})
    assert secret == Secret(OPAQUE)
    assert secret != Secret(OPAQUE + "x")
    assert len({secret, Secret(OPAQUE), Secret("other")}) == 2  # usable as a key, by value
    assert secret
    assert not Secret("")  # an empty environment variable is no secret


def test_a_service_logs_info_by_default_and_not_aiohttp_access_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access = logging.getLogger("aiohttp.access")
    access_level = access.level
    access.setLevel(logging.NOTSET)  # as in a new process (another test may have set it)
    try:
        with service_log(monkeypatch) as stream:
            configure_logging("p1")
            logging.getLogger("node.app").info("serving")
            logging.getLogger("node.app").debug("detail")
            access.info('127.0.0.1 "GET / HTTP/1.1" 200')  # one per request: noise at scale
            access.warning("access log trouble")
    finally:
        access.setLevel(access_level)
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO    p1 node.app: serving",
        "WARNING p1 aiohttp.access: access log trouble",
    ]


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=6, max_size=40),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_configured_secret_is_masked_wherever_it_sits(
    secret: str, before: str, after: str
) -> None:
    line = redact(f"{before}{secret}{after}", [Secret(secret)])
    assert secret not in line
    assert MASK in line


def test_the_service_log_masks_its_configured_secrets_in_every_logger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client secret that matches no pattern (no field name, not a JWT) is masked only
    because the service configured it: in every logger's lines, at every level it logs."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    plain = "plain-looking-value-7f3a"
    try:
        configure_logging("p1", "DEBUG", [Secret(plain)])
        for name in ("tokensim_token.refreshing", "aiohttp.server", "lb.proxy", "upstream.ims"):
            logging.getLogger(name).debug("value %s", plain)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith(" DEBUG   p1 core.logs: logging at DEBUG")  # says its level
    assert len([line for line in lines if line.endswith(f"value {MASK}")]) == 4
    assert all(" p1 " in line for line in lines)  # every line names the service
    assert plain not in stream.getvalue()


def test_a_peers_newline_cannot_forge_a_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    forged = "p9\n2026-12-02 00:00:00,000 CRITICAL p1 node.app: token leaked\x1b[2J\u2028"
    with service_log(monkeypatch) as stream:
        configure_logging("p1")
        logging.getLogger("node.replication").warning("push from %s refused", forged)
        try:
            raise ValueError(f"peer said {forged}")
        except ValueError:
            logging.getLogger("node.app").exception("call failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # one record, one line: the traceback too
    assert "push from p9\\n2026-12-02 00:00:00,000 CRITICAL" in lines[0]
    assert "\\x1b[2J\\u2028 refused" in lines[0]
    assert "Traceback (most recent call last):\\n" in lines[1]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f"token={OPAQUE};path=/ more words", ";path=/ more words"),
        (f"the token: {OPAQUE}) and then", ") and then"),
        (f"access_token={OPAQUE}</td><td>next", "</td><td>next"),
        (f"Authorization: Bearer {OPAQUE}, retried", ", retried"),
    ],
)
def test_redaction_keeps_the_words_around_a_credential(line: str, kept: str) -> None:
    out = redact(line)
    assert OPAQUE not in out
    assert out.endswith(MASK + kept)


@pytest.mark.parametrize(
    "line", ["token: fingerprint 1a2b3c4d for p1", "sent a bearer token to p2", "token=missing"]
)
def test_a_word_after_a_credential_label_is_not_a_credential(line: str) -> None:
    assert redact(line) == line


async def test_a_malformed_request_is_logged_as_one_line_without_its_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiohttp quotes the offending header at ERROR with a traceback: credentials included."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = app_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with service_log(monkeypatch) as stream:
            configure_logging("d1")
            for head in (
                b"X-Secret: Bearer sekrit-value-1\x01tail",
                b"X-Secret: Bearer sekrit-value-2" + b"a" * 9000,
            ):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n\r\n")
                await writer.drain()
                await asyncio.wait_for(reader.read(), 30)
                writer.close()
    finally:
        await runner.cleanup()
    lines = [line for line in stream.getvalue().splitlines() if "aiohttp.server" in line]
    assert len(lines) == 2
    assert "sekrit" not in stream.getvalue()
    assert (
        "WARNING d1 aiohttp.server: Error handling request from 127.0.0.1: BadHttpMessage (400)"
        in lines[0]
    )
    assert "LineTooLong (400)" in lines[1]
