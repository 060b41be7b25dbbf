"""Behaviour that a silent bug would break without any other test noticing, found by mutation
testing (``make mutate``, docs/mutation.md): the sealed sticky cookie as another balancer
process opens it, its key's sources, retry timing spread across nodes, the dispatcher cache's
bounds, secret files under racing readers, log redaction of configured secrets, what the
dispatcher's filter lets through, health checks of targets that hang or refuse."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import os
import random
import re
import tempfile
import threading
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from tokensim_token.backoff import Backoff
from tokensim_token.coordination import SharedToken
from tokensim_token.errors import KeyringError, SealedDataError
from tokensim_token.file_store import FileStore
from tokensim_token.files import write_atomic
from tokensim_token.keyring import Keyring, load_keyring_env, load_keyring_file, rotate_keyring_file
from tokensim_token.model import AccessToken, TokenState, describe, valid_or_invalid
from tokensim_token.redaction import MASK, redact
from tokensim_token.sealing import MAX_SEALED, open_sealed, seal
from tokensim_token.secrets import Secret
from tokensim_token.store import SavedToken

from core.errors import MissingSecretError
from core.logs import configure_logging
from core.secrets import secrets_from_env
from core.topology import HealthCheckConfig, Topology
from harness.estate.processes import free_ports
from lb.cookies import EXPIRY_STEP, StickyCookieCodec, load_cookie_key
from lb.dispatcher.cache import ReplyCache
from lb.dispatcher.filters import PathFilter
from lb.errors import CookieKeyError
from lb.health import HealthChecker
from lb.targets import Health, Target, TargetPool
from node.token.replication import Push, open_replicated, seal_for_replication
from node.token.strategies import TokenDeps, shared_store
from tests.conftest import REDIS_PASSWORD, serve, topology_dict

NOW = 1_790_000_000.0
KEY = bytes(range(32))
TARGETS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


# --- the sticky cookie, as the next process (or a restarted balancer) opens it -------------


@settings(max_examples=200, deadline=None)
@given(target=TARGETS, ahead=st.integers(min_value=1, max_value=10**7))
def test_any_target_survives_a_balancer_restart(target: str, ahead: int) -> None:
    """Another codec with the same key (the balancer after a restart, or its second process)
    opens what the first sealed, whatever the target's id or the value's length."""
    value = StickyCookieCodec(KEY, cookie_name="AWSALB").encode(target, expires_at=NOW + ahead)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value), value  # a cookie-safe token, no padding
    restarted = StickyCookieCodec(KEY, cookie_name="AWSALB")
    assert restarted.decode(value, now=NOW) == target
    expires = -(-int(NOW + ahead) // EXPIRY_STEP) * EXPIRY_STEP
    assert restarted.decode(value, now=expires - 1) == target
    assert restarted.decode(value, now=expires) is None


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_altered_cookie_is_refused_by_a_fresh_process(data: st.DataObject) -> None:
    value = StickyCookieCodec(KEY, cookie_name="AWSALB").encode("d1", expires_at=NOW + 600)
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert StickyCookieCodec(KEY, cookie_name="AWSALB").decode(forged, now=NOW) is None


def test_a_cookie_is_bound_to_its_name_in_a_fresh_process() -> None:
    value = StickyCookieCodec(KEY, cookie_name="AWSALB").encode("d1", expires_at=NOW + 600)
    assert StickyCookieCodec(KEY, cookie_name="OTHER").decode(value, now=NOW) is None


def test_one_target_and_minute_give_one_cookie_value() -> None:
    """Every reply renews the cookie: the same target and minute reuse one sealed value
    rather than encrypting per response (and a fresh nonce per sealing keeps them apart)."""
    codec = StickyCookieCodec(KEY, cookie_name="AWSALB")
    first = codec.encode("d1", expires_at=NOW + 3600)
    assert codec.encode("d1", expires_at=NOW + 3600) == first
    assert codec.encode("d2", expires_at=NOW + 3600) != first
    assert StickyCookieCodec(KEY, cookie_name="AWSALB").encode("d1", expires_at=NOW + 3600) != (
        first
    )


def test_cookie_key_problems_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(CookieKeyError, match=r"environment variable LBKEY: .* not base64"):
        load_cookie_key("LBKEY", tmp_path / "unused", {"LBKEY": "not base64!"})
    exposed = tmp_path / "exposed.key"
    exposed.write_bytes(base64.b64encode(os.urandom(32)))
    exposed.chmod(0o644)
    with pytest.raises(CookieKeyError, match=r"exposed\.key: key file mode 0644.*chmod 600"):
        load_cookie_key(None, exposed, {})
    garbled = tmp_path / "garbled.key"
    write_atomic(garbled, "schlüssel-ä".encode())
    with pytest.raises(CookieKeyError, match=r"garbled\.key: the cookie key is not base64"):
        load_cookie_key(None, garbled, {})


# --- retry timing: spread across nodes, growing, capped ------------------------------------


@pytest.mark.parametrize(("failures", "ceiling"), [(1, 2.0), (2, 4.0), (3, 8.0), (9, 60.0)])
def test_retries_spread_over_the_whole_window_and_double_up_to_the_cap(
    failures: int, ceiling: float
) -> None:
    """Full jitter: 1,000 nodes that failed together come back spread over [0, ceiling], the
    ceiling doubling per failure (base 2 s) up to the cap; none earlier, none later."""
    backoff = Backoff(base=2.0, cap=60.0)
    delays = [backoff.delay(failures, random.Random(seed)) for seed in range(1000)]
    assert 0.0 <= min(delays) < 0.05 * ceiling
    assert 0.95 * ceiling < max(delays) <= ceiling
    assert abs(sum(delays) / len(delays) - ceiling / 2) < 0.05 * ceiling


def test_retry_after_is_a_floor_and_huge_failure_counts_stay_capped() -> None:
    backoff = Backoff(base=1.0, cap=30.0)
    assert backoff.delay(1, random.Random(1), retry_after=45.0) == 45.0
    assert backoff.delay(10_000, random.Random(1)) <= 30.0


# --- the dispatcher's cache: bounded, least recently stored out first -----------------------


def test_the_cache_keeps_its_newest_entries_up_to_its_bound() -> None:
    cache = ReplyCache(ttl=60, clock=lambda: 0.0, max_entries=3)
    headers = CIMultiDict({"Content-Type": "text/html"})
    for path in ("/a", "/b", "/c"):
        cache.put("GET", path, 200, headers, path.encode())
    assert len(cache) == 3  # full, nothing dropped yet
    cache.put("GET", "/a", 200, headers, b"/a again")  # stored again: now the newest
    cache.put("GET", "/d", 200, headers, b"/d")
    assert len(cache) == 3
    assert cache.get("GET", "/b") is None  # the oldest went
    kept = cache.get("HEAD", "/a")
    assert kept is not None
    assert (kept.body, kept.headers["Content-Type"]) == (b"/a again", "text/html")
    assert cache.get("GET", "/c") is not None
    assert cache.get("GET", "/d") is not None


def test_a_cached_reply_is_fresh_while_its_age_is_below_the_ttl() -> None:
    # RFC 9111 4.2: fresh while the freshness lifetime is greater than the age; at an age of
    # exactly the ttl the entry is stale and the publisher is asked again.
    now = [100.0]
    cache = ReplyCache(ttl=60, clock=lambda: now[0])
    cache.put("GET", "/", 200, CIMultiDict(), b"home")
    now[0] = 159.999
    assert cache.get("GET", "/") is not None
    now[0] = 160.0
    assert cache.get("GET", "/") is None
    assert len(cache) == 0  # and the stale entry is gone, not kept forever


# --- secret files: a reader racing repeated saves ------------------------------------------


def test_a_reader_racing_repeated_saves_always_sees_a_whole_file(tmp_path: Path) -> None:
    """Sealed tokens and keyrings are rewritten while other processes read them: every read
    sees one complete version (never empty, never a mix), and the file stays 0600."""
    path = tmp_path / "token.json"
    versions = [bytes([65 + i]) * (256 * 1024) for i in range(8)]  # big enough to tear
    write_atomic(path, versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def save() -> None:
        i = 0
        while not stop.is_set():
            write_atomic(path, versions[i % len(versions)])
            i += 1

    writer = threading.Thread(target=save)
    writer.start()
    try:
        for _ in range(20_000):  # bounded; stops once the saves have visibly raced the reads
            seen.append(path.read_bytes())
            if len(seen) >= 400 and len(set(seen)) >= 3:
                break
    finally:
        stop.set()
        writer.join()
    assert all(data in versions for data in seen)
    assert len(set(seen)) > 1  # the saves did race the reads
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]  # no temporary left


def test_a_save_never_uses_the_system_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is made beside the target: a TMPDIR on another filesystem (where the
    final rename would fail) or one that does not exist (a hardened container) changes
    nothing, and a reader of the target's folder never sees a secret half written elsewhere."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    path = tmp_path / "state" / "token.json"
    write_atomic(path, b"sealed")
    assert path.read_bytes() == b"sealed"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]


# --- log redaction of configured secrets ---------------------------------------------------


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


# --- the dispatcher's filter: what each wildcard lets through -------------------------------

SEGMENT_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-")


@settings(max_examples=200, deadline=None)
@given(one=SEGMENT_CHARS, more=st.text(alphabet=SEGMENT_CHARS, min_size=2, max_size=8))
def test_each_wildcard_matches_what_the_dispatcher_docs_say(one: str, more: str) -> None:
    """``?`` one character, ``*`` any run within a segment, ``**`` across segments; the rest
    of a glob is literal (a ``.`` is a dot, not any character)."""
    single = PathFilter(["/content/page?.html"])
    assert single.allows(f"/content/page{one}.html")
    assert not single.allows("/content/page.html")
    assert not single.allows(f"/content/page{more}.html")
    assert not single.allows(f"/content/page{one}xhtml")
    within = PathFilter(["/content/*.html"])
    assert within.allows(f"/content/{more}.html")
    assert not within.allows(f"/content/{more}/{one}.html")
    across = PathFilter(["/content/**.html"])
    assert across.allows(f"/content/{more}/{one}.html")
    assert not across.allows(f"/etc/{more}.html")


# --- the balancer's health checks: a target that hangs or refuses goes out -----------------


async def test_a_target_that_hangs_or_refuses_is_taken_out_and_says_why(
    stack: contextlib.AsyncExitStack,
) -> None:
    release = asyncio.Event()

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="too late")

    async def fine(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    hanging_app, fine_app = web.Application(), web.Application()
    hanging_app.router.add_get("/health", hang)
    fine_app.router.add_get("/health", fine)
    hanging, healthy = await serve(stack, hanging_app), await serve(stack, fine_app)
    (closed_port,) = free_ports(1)
    checks = HealthCheckConfig(
        interval=0.6, timeout=0.5, healthy_threshold=2, unhealthy_threshold=2, path="/health"
    )
    targets = [
        Target("d1", healthy, "p1"),
        Target("d2", hanging, "p2"),
        Target("d3", f"http://127.0.0.1:{closed_port}", "p3"),
    ]
    pool = TargetPool(targets, checks=checks, algorithm="round_robin")
    session = await stack.enter_async_context(aiohttp.ClientSession())
    checker = HealthChecker(pool, checks, session)
    running = asyncio.create_task(checker.run())
    try:
        await asyncio.sleep(2.5)  # checks every 0.6 s, each at most 0.5 s: 2 rounds or more
    finally:
        running.cancel()
        release.set()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert checker.rounds >= 2
    d1, d2, d3 = targets
    assert (d1.health, d1.last_problem) == (Health.HEALTHY, None)
    assert d2.health is not Health.HEALTHY  # never passed: never put in
    assert d2.last_problem == "health check failed (TimeoutError)"
    assert d3.health is not Health.HEALTHY
    assert d3.last_problem == "health check failed (ClientConnectorError)"
    chosen = {pool.choose().id for _ in range(6)}  # type: ignore[union-attr]
    assert chosen == {"d1"}


# --- where secrets and keys come from ------------------------------------------------------


def test_client_secrets_come_from_the_environment_in_order_skipping_unset_ones() -> None:
    environ = {"FIRST": "", "SECOND": "s2-value", "THIRD": "s3-value"}
    found = secrets_from_env(["FIRST", "SECOND", "THIRD"], environ, key_path="ims.x")
    assert [s.reveal() for s in found] == ["s2-value", "s3-value"]  # rotation order kept
    with pytest.raises(MissingSecretError) as raised:
        secrets_from_env(["FIRST", "NONE"], environ, key_path="ims.client_secret_env")
    assert str(raised.value) == (
        "ims.client_secret_env: none of the environment variables FIRST, NONE is set"
    )
    secret = Secret("s2-value")
    assert "s2-value" not in f"{secret} {secret!r} {[secret]}"
    assert secret == Secret("s2-value")
    assert secret != Secret("s3-value")
    assert len({secret, Secret("s2-value")}) == 1
    assert not Secret("")


def test_a_keyring_from_the_environment_opens_what_the_file_keyring_sealed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys" / "keyring.json"
    with caplog.at_level(logging.INFO, logger="tokensim_token.keyring"):
        made = load_keyring_file(path, create=True)
        assert path.stat().st_mode & 0o777 == 0o600
        again = load_keyring_file(path, create=True)  # read back, not generated again
    assert [r.getMessage() for r in caplog.records] == [
        f"generated a new encryption keyring at {path} (mode 0600)"
    ]
    environ = {"TOKENSIM_KEYRING": path.read_text()}
    from_env = load_keyring_env("TOKENSIM_KEYRING", environ)
    sealed = seal(made, b"a-token-value", {"node": "p1"})
    for ring in (again, from_env):
        assert open_sealed(ring, sealed, {"node": "p1"})[0] == b"a-token-value"
    with pytest.raises(KeyringError, match=r"token\.key_env: environment variable NOPE is not set"):
        load_keyring_env("NOPE", {})
    with pytest.raises(KeyringError, match="configured, so it is not generated"):
        load_keyring_file(tmp_path / "elsewhere.json", create=False)


def test_a_rotation_keeps_old_keys_and_its_files_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "folder" / "keyring.json"  # folders made as needed
    first = rotate_keyring_file(path, create=True)
    second = rotate_keyring_file(path, create=True)
    sealed = seal(first, b"old-token", {"node": "p1"})
    assert open_sealed(second, sealed, {"node": "p1"})[0] == b"old-token"
    assert load_keyring_file(path, create=False).to_json() == second.to_json()
    for file in path.parent.iterdir():  # the keyring and its lock file
        assert file.stat().st_mode & 0o777 == 0o600, file.name
    assert path.parent.stat().st_mode & 0o777 == 0o700  # and the folder made for them


def test_the_shared_stores_files_are_private(tmp_path: Path) -> None:
    """The sealed cluster token, the lease and the lock: 0600, whatever the umask."""
    old = os.umask(0o022)
    try:
        store = FileStore(tmp_path / "shared", wall_clock=lambda: NOW)
        asyncio.run(store.put(seal(Keyring.generate(), b"a-token", {"scope": "cluster"})))
        assert asyncio.run(store.try_lease("p1", 60))
    finally:
        os.umask(old)
    files = sorted((tmp_path / "shared").iterdir())
    assert [f.name for f in files] == ["shared-lease.json", "shared-token.sealed", "shared.lock"]
    for file in files:
        assert file.stat().st_mode & 0o777 == 0o600, file.name
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o700  # and the folder made for them


def test_a_status_shows_a_token_by_fingerprint_and_only_while_it_is_valid() -> None:
    token = AccessToken(Secret("tok-value"), obtained_at=100.0, expires_at=160.0)
    assert describe(None, 120.0) == (None, None, None)
    assert describe(token, 120.0) == (token.fingerprint, 40.0, 20.0)
    assert describe(token, 160.0) == (token.fingerprint, None, None)
    assert describe(token, 159.5) == (token.fingerprint, 0.5, 59.5)  # its last second counts
    assert describe(token, 120.00049) == (token.fingerprint, 40.0, 20.0)  # to the millisecond
    assert valid_or_invalid(token, 159.9) is TokenState.FRESH
    assert valid_or_invalid(token, 160.0) is TokenState.INVALID
    assert valid_or_invalid(None, 0.0) is TokenState.INVALID


# --- the embedded shared store: what a racing peer may and may not undo ----------------------


async def test_a_peer_removes_only_the_token_it_was_refused_and_leases_exclude_each_other(
    tmp_path: Path,
) -> None:
    now = [NOW]
    store = FileStore(tmp_path / "shared", wall_clock=lambda: now[0])
    await store.put(b"old sealed token")
    await store.put(b"new sealed token")  # another node refreshed meanwhile
    await store.remove_if(b"old sealed token")  # a late 401 on the old one
    assert await store.get() == b"new sealed token"
    await store.remove_if(b"new sealed token")
    assert await store.get() is None
    await store.remove_if(b"new sealed token")  # already gone: nothing to do, no error

    assert await store.try_lease("p1", 15.0)
    assert not await store.try_lease("p2", 15.0)  # held by p1
    assert await store.try_lease("p1", 15.0)  # p1 renews its own
    now[0] += 14.9
    assert not await store.try_lease("p2", 15.0)
    now[0] += 0.2  # p1's renewal has run out: a crashed holder blocks the others no longer
    assert await store.try_lease("p2", 15.0)
    await store.release_lease("p1")  # not p1's any more: p2 keeps it
    assert not await store.try_lease("p3", 15.0)
    await store.release_lease("p2")
    assert await store.try_lease("p3", 15.0)


def test_a_key_with_stray_characters_is_refused_not_silently_cleaned() -> None:
    # A lenient decoder drops the stray characters and still finds 32 bytes: a damaged key
    # file would then load as if nothing were wrong.
    encoded = base64.b64encode(KEY).decode()
    stray = encoded[:10] + "!*" + encoded[10:]
    with pytest.raises(CookieKeyError, match="not base64"):
        load_cookie_key("LBKEY", Path("unused"), {"LBKEY": stray})
    document = json.dumps({"version": 1, "primary": "k1", "keys": {"k1": stray}})
    with pytest.raises(KeyringError, match="not a keyring"):
        Keyring.from_json(document, source="test")


def test_a_keyring_says_its_format_and_another_format_is_refused(tmp_path: Path) -> None:
    ring = Keyring.generate()
    assert json.loads(ring.to_json())["version"] == 1
    assert Keyring.from_json(ring.to_json(), source="test").to_json() == ring.to_json()
    newer = json.dumps({**json.loads(ring.to_json()), "version": 2})
    path = tmp_path / "keyring.json"
    write_atomic(path, newer.encode())
    with pytest.raises(KeyringError, match=r"keyring\.json: keyring format version 2"):
        load_keyring_file(path, create=False)
    write_atomic(path, b"{not json")
    with pytest.raises(KeyringError, match=r"keyring\.json: not a keyring"):
        load_keyring_file(path, create=False)


def test_a_generated_keyring_is_logged_once_and_a_loaded_one_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keyring.json"
    caplog.set_level(logging.INFO, logger="tokensim_token.keyring")
    first = load_keyring_file(path, create=True)
    assert caplog.text.count("generated a new encryption keyring") == 1  # when it was made
    assert load_keyring_file(path, create=True).to_json() == first.to_json()
    assert caplog.text.count("generated a new encryption keyring") == 1  # not when it is read


def test_a_keyring_with_a_key_that_is_not_base64_is_refused() -> None:
    document = json.dumps({"version": 1, "primary": "k1", "keys": {"k1": "bm90 a2V5$$"}})
    with pytest.raises(KeyringError):
        Keyring.from_json(document, source="test")


# --- stores, replication and sealing: what another node or a hostile file gives ------------


async def test_the_file_store_reads_no_more_than_a_sealed_token_can_be(tmp_path: Path) -> None:
    store = FileStore(tmp_path, wall_clock=lambda: NOW)
    await store.put(b"x" * (3 * MAX_SEALED))  # what a full disk or an attacker may leave
    blob = await store.get()
    assert blob is not None
    assert len(blob) == MAX_SEALED + 1  # enough to know it is too long, never the whole file
    await store.put(b"y" * MAX_SEALED)
    assert await store.get() == b"y" * MAX_SEALED  # the longest that can be valid, whole


@pytest.mark.parametrize("seq", [5.0, "5", True, None])
def test_a_push_whose_sequence_number_is_not_an_integer_is_refused(seq: object) -> None:
    keyring = Keyring.generate()
    push = Push(SavedToken(Secret("tok"), NOW, 86_399.0), seq, NOW)  # type: ignore[arg-type]
    with pytest.raises(SealedDataError, match="not a push"):
        open_replicated(keyring, "p1", seal_for_replication(keyring, "p1", push))
    good = Push(SavedToken(Secret("tok"), NOW, 86_399.0), 5, NOW)
    assert open_replicated(keyring, "p1", seal_for_replication(keyring, "p1", good)).seq == 5


def test_a_push_opens_only_as_from_the_leader_that_sealed_it() -> None:
    keyring = Keyring.generate()
    push = Push(SavedToken(Secret("tok"), NOW, 86_399.0), 1, NOW)
    blob = seal_for_replication(keyring, "p1", push)
    with pytest.raises(SealedDataError):
        open_replicated(keyring, "p2", blob)
    other = seal(keyring, b'{"access_token": "t", "obtained_at": 1, "lifetime": 2, "seq": 1}', {})
    with pytest.raises(SealedDataError):
        open_replicated(keyring, "p1", other)  # sealed for another purpose


def test_sealed_data_for_another_owner_says_which_context_it_expected() -> None:
    keyring = Keyring.generate()
    blob = seal(keyring, b"secret", {"node": "p1", "purpose": "access-token"})
    with pytest.raises(SealedDataError) as caught:
        open_sealed(keyring, blob, {"purpose": "access-token", "node": "p2"})
    assert "node=p2, purpose=access-token" in str(caught.value)
    with pytest.raises(SealedDataError) as caught:
        open_sealed(keyring, seal(keyring, b"x", {"node": "p1"}), {})
    assert re.search(r"\bnothing\b", str(caught.value))


@pytest.mark.looptime(False)  # Redis answers in real time
async def test_the_report_beside_the_token_is_kept_apart_from_it(
    tmp_path: Path, store_kind: dict[str, object]
) -> None:
    data = topology_dict(tmp_path, "http://x", "http://y", token=store_kind)
    topology = Topology.from_dict(data)
    deps = TokenDeps(
        secrets=(Secret("s"),), keyring=Keyring.generate(), store_password=Secret(REDIS_PASSWORD)
    )
    token_store = shared_store(topology, deps, purpose="token")
    report_store = shared_store(topology, deps, purpose="report")
    await token_store.put(b"sealed token")
    assert await report_store.get() is None
    await report_store.put(b"sealed report")
    assert await token_store.get() == b"sealed token"
    await token_store.close()
    await report_store.close()


def test_cookies_of_many_targets_open_in_another_process() -> None:
    # Whatever the last character of a value is (any of the 64 of base64url, by chance), it
    # must survive the trip through the browser and another balancer.
    sealer = StickyCookieCodec(KEY, cookie_name="AWSALB")
    targets = [f"d{'x' * (i % 3)}{i}" for i in range(3000)]  # every length modulo 3
    values = {t: sealer.encode(t, expires_at=NOW + 3600) for t in targets}
    assert len({v[-1] for v in values.values()}) >= 10  # many kinds of ending were made
    assert "X" in {v[-1] for v in values.values()}
    opener = StickyCookieCodec(KEY, cookie_name="AWSALB")
    for target, value in values.items():
        assert opener.decode(value, now=NOW) == target


class FlakyStore(FileStore):
    """The file store, failing every call while ``down`` (a Redis server gone away)."""

    down = False

    async def get(self) -> bytes | None:
        if self.down:
            raise OSError("store down")
        return await super().get()


async def test_each_store_outage_is_logged_once_and_its_end_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tokensim_token.coordination")
    store = FlakyStore(tmp_path, wall_clock=lambda: NOW)
    shared = SharedToken(store, Keyring.generate(), owner="p1", lease_ttl=30)
    for down in (True, True, False, False, True, True, False):
        store.down = down
        await shared.load()
    lines = [r.getMessage().split(" (")[0] for r in caplog.records]
    assert lines == [
        "shared token store unavailable",
        "shared token store answers again",
        "shared token store unavailable",
        "shared token store answers again",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("v", 2),
        ("alg", "A128GCM"),
        ("kid", 7),
        ("ctx", "node=p1"),
        ("nonce", "stray!"),  # base64 with a character a lenient decoder would drop
        ("ct", "stray!"),
    ],
)
def test_an_envelope_with_any_field_wrong_is_not_opened(field: str, value: object) -> None:
    keyring = Keyring.generate()
    document = json.loads(seal(keyring, b"secret", {"node": "p1"}))
    if field in ("nonce", "ct"):
        encoded = str(document[field])
        value = encoded[:4] + "!" + encoded[4:]  # still decodes leniently to the same bytes
    document[field] = value
    with pytest.raises(SealedDataError, match="not a sealed envelope"):
        open_sealed(keyring, json.dumps(document).encode(), {"node": "p1"})
    assert open_sealed(keyring, seal(keyring, b"secret", {"node": "p1"}), {"node": "p1"})[0]


def test_a_secret_file_in_a_new_folder_gets_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nodes" / "p1.token"
    write_atomic(path, b"sealed")
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["p1.token"]  # no temporary left behind
