"""ClientCredentialsTokens, the library's one constructor, against the simulated IMS and
Analytics: what a backend developer gets from ``from_env`` and ``async with``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tokensim_token import (
    ClientCredentialsTokens,
    InvalidClient,
    KeyringError,
    SettingsError,
    TokenError,
    TokenSettings,
    TokenUnavailable,
)
from tokensim_token.errors import ImsUnavailable

from tests.support.world import CLIENT_ID, GOOD_SECRET, World, start_world

REPORT = {
    "rsid": "test.rsid",
    "globalFilters": [
        {"type": "dateRange", "dateRange": "2026-08-01T00:00:00.000/2026-09-01T00:00:00.000"}
    ],
    "metricContainer": {"metrics": [{"columnId": "0", "id": "metrics/visits", "sort": "desc"}]},
    "dimension": "variables/page",
    "settings": {"limit": 5, "page": 0},
}


def tokens_for(world: World, tmp: Path, **overrides: Any) -> ClientCredentialsTokens:
    options: dict[str, Any] = {
        "token_url": f"{world.ims_url}/ims/token/v3",
        "client_id": CLIENT_ID,
        "scope": "openid,AdobeID",
        "secret_env": "MY_SECRET",
        "cache_path": tmp / "cache" / "token.sealed",
        "environ": {"MY_SECRET": GOOD_SECRET},
    }
    return ClientCredentialsTokens.from_env(**{**options, **overrides})


async def test_ten_callers_at_a_cold_start_make_one_token_call_and_a_restart_none(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    async with tokens_for(world, tmp_path) as tokens:
        got = await asyncio.gather(*(tokens.get() for _ in range(10)))
        assert {t.fingerprint for t in got} == {got[0].fingerprint}
        assert tokens.status().token_calls == 1
    assert world.tokens_issued == 1
    async with tokens_for(world, tmp_path) as again:  # a restart: the sealed file
        assert (await again.get()).fingerprint == got[0].fingerprint
        assert again.status().token_calls == 0
        assert again.status().restored_from_disk
    assert world.tokens_issued == 1


async def test_a_401_drops_that_token_and_the_request_is_sent_once_more(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    api = f"{world.analytics_url}/api/testco/reports"
    async with (
        tokens_for(world, tmp_path) as tokens,
        aiohttp.ClientSession(
            headers={"x-api-key": CLIENT_ID}, middlewares=(tokens.middleware(),)
        ) as session,
    ):
        async with session.post(api, json=REPORT) as response:
            assert response.status == 200
        world.keys.revoke_all()  # IMS revokes every token: Analytics says 401
        replies = []
        for _ in range(3):  # three requests refused at once would cost one call, too
            async with session.post(api, json=REPORT) as response:
                replies.append(response.status)
        assert replies == [200, 200, 200]
        assert tokens.status().token_calls == 2
    assert world.analytics_stats.by_outcome["unauthorized"] == 1


async def test_no_retry_with_zero_attempts_and_the_last_reply_returned(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    api = f"{world.analytics_url}/api/testco/reports"
    async with tokens_for(world, tmp_path) as tokens:
        no_retry = tokens.middleware(max_refresh_attempts=0)
        async with aiohttp.ClientSession(
            headers={"x-api-key": CLIENT_ID}, middlewares=(no_retry,)
        ) as session:
            await tokens.get()
            world.keys.revoke_all()
            async with session.post(api, json=REPORT) as response:
                assert response.status == 401
        assert tokens.status().token_calls == 1
    for statuses, attempts in (((200,), 1), ((401,), 6), ((401,), -1)):
        with pytest.raises(SettingsError):
            tokens.middleware(refresh_statuses=statuses, max_refresh_attempts=attempts)


async def test_a_tampered_cache_file_is_replaced_and_nothing_secret_is_logged(
    stack: contextlib.AsyncExitStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = await start_world(stack, tmp_path)
    async with tokens_for(world, tmp_path) as tokens:
        first = await tokens.get()
    cache = tmp_path / "cache" / "token.sealed"
    envelope = json.loads(cache.read_bytes())
    envelope["ct"] = envelope["ct"][:-8] + ("AAAAAAAA" if envelope["ct"][-8] != "A" else "BBBBBBBB")
    cache.write_text(json.dumps(envelope))
    async with tokens_for(world, tmp_path) as tokens:
        second = await tokens.get()
        assert tokens.status().token_calls == 1
    assert second.fingerprint != first.fingerprint
    assert "discarding token file" in caplog.text
    for value in (first.value.reveal(), second.value.reveal(), GOOD_SECRET):
        assert value not in caplog.text


async def test_a_wrong_secret_is_not_retryable_and_an_outage_is(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    wrong = tokens_for(world, tmp_path, environ={"MY_SECRET": "not-the-secret"}, cache_path=None)
    async with wrong:
        with pytest.raises(TokenUnavailable) as refused:
            await wrong.get()
    assert not refused.value.retryable
    assert isinstance(refused.value.cause, InvalidClient)
    assert refused.value.__cause__ is refused.value.cause
    world.ims_faults(outage=True)
    down = tokens_for(world, tmp_path, cache_path=None, settings=TokenSettings(wait_timeout=2))
    async with down:
        with pytest.raises(TokenUnavailable) as outage:
            await down.get()
    assert outage.value.retryable
    assert isinstance(outage.value.cause, ImsUnavailable)


async def test_close_closes_the_session_it_opened_and_not_one_it_was_given(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    world = await start_world(stack, tmp_path)
    tokens = tokens_for(world, tmp_path)
    await tokens.start()
    opened = tokens._session
    await tokens.close()
    assert opened is not None
    assert opened.closed
    async with aiohttp.ClientSession() as given:
        async with tokens_for(world, tmp_path, session=given) as tokens:
            await tokens.get()
        assert not given.closed
    with pytest.raises(TokenError, match="not started"):
        await tokens.get()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"token_url": "ftp://ims.example/token"}, r"^token_url: an http:// or https:// URL"),
        ({"token_url": "ims.example/token"}, r"^token_url:"),
        ({"environ": {}}, r"^secret_env: MY_SECRET is not set"),
        ({"environ": {"MY_SECRET": " s3cret\n"}}, r"^secret_env: MY_SECRET: .*whitespace"),
        ({"environ": {"MY_SECRET": ""}}, r"^secret_env: MY_SECRET: .*empty"),
        ({"secret_env": []}, r"^secret_env: name at least one"),
        ({"client_id": " id"}, r"^client_id:"),
        ({"cache_path": None, "keyring_env": "K"}, r"^keyring_path/keyring_env: only with"),
        ({"settings": None, "keyring_path": "/nonexistent/keyring.json"}, r"configured"),
    ],
)
def test_bad_settings_fail_at_construction_naming_the_setting(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    options: dict[str, Any] = {
        "token_url": "https://ims.example/ims/token/v3",
        "client_id": "id",
        "secret_env": "MY_SECRET",
        "cache_path": tmp_path / "token.sealed",
        "environ": {"MY_SECRET": "s3cret"},
        **overrides,
    }
    with pytest.raises((SettingsError, KeyringError), match=message):
        ClientCredentialsTokens.from_env(**options)


def test_a_keyring_file_others_can_read_is_refused_at_construction(tmp_path: Path) -> None:
    keyring = tmp_path / "keyring.json"
    ClientCredentialsTokens.from_env(  # generates the default keyring, 0600
        token_url="https://ims.example/t",
        client_id="id",
        cache_path=tmp_path / "token.sealed",
        environ={"CLIENT_SECRET": "s"},
    )
    assert keyring.stat().st_mode & 0o777 == 0o600
    os.chmod(keyring, 0o644)
    with pytest.raises(KeyringError, match=r"keyring\.json: key file mode 0644 lets other users"):
        ClientCredentialsTokens.from_env(
            token_url="https://ims.example/t",
            client_id="id",
            cache_path=tmp_path / "token.sealed",
            environ={"CLIENT_SECRET": "s"},
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("refresh_at", 1.0, r"^refresh_at: must be between 0 and 1"),
        ("refresh_jitter", 0.6, r"^refresh_jitter: .*below 1"),
        ("expiry_margin", -1, r"^expiry_margin: must be 0 or more"),
        ("wait_timeout", 0, r"^wait_timeout: must be above 0"),
        ("retry_cap", 0.5, r"^retry_cap: must not be below retry_base"),
        ("request_timeout", "10", r"^request_timeout: expected a number"),
    ],
)
def test_each_setting_is_bounded(field: str, value: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        TokenSettings(**{field: value})  # type: ignore[arg-type]
