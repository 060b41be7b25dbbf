"""The load balancer's parts: the sealed cookie, health thresholds, the HAProxy equivalent."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from core.topology import HealthCheckConfig
from lb.cookies import StickyCookieCodec, load_cookie_key
from lb.errors import CookieKeyError
from lb.proxy import cookie_values
from lb.targets import Health, Target, TargetPool

NOW = 1_790_000_000.0


def codec() -> StickyCookieCodec:
    return StickyCookieCodec(os.urandom(32), cookie_name="AWSALB")


def test_cookie_round_trip_expiry_and_opacity() -> None:
    c = codec()
    # A target id long enough that random base64 cannot contain it by chance ("d2" did, in
    # about 1 run in 70).
    target = "dispatcher-two-of-three"
    value = c.encode(target, expires_at=NOW + 3600)
    assert target not in value
    assert base64.urlsafe_b64encode(target.encode()).decode()[:16] not in value
    assert c.decode(value, now=NOW) == target
    assert c.decode(value, now=NOW + 3661) is None  # expired (rounded up to the minute)


def test_cookie_forgeries_are_refused_even_after_caching() -> None:
    c = codec()
    value = c.encode("d1", expires_at=NOW + 3600)
    assert c.decode(value, now=NOW) == "d1"  # now remembered
    # Flip a character in the middle: the last base64 character may carry only padding bits.
    flipped = value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
    for forged in (flipped, "d1", "", "!!!", value[:16]):
        assert c.decode(forged, now=NOW) is None
    other = StickyCookieCodec(os.urandom(32), cookie_name="AWSALB")
    assert other.decode(value, now=NOW) is None  # another key
    renamed = StickyCookieCodec(b"k" * 32, cookie_name="OTHER")
    assert (
        renamed.decode(
            StickyCookieCodec(b"k" * 32, cookie_name="AWSALB").encode("d1", expires_at=NOW + 60),
            now=NOW,
        )
        is None
    )  # bound to the cookie name


def test_cookie_header_parsing() -> None:
    def cookies(*values: str) -> list[tuple[bytes, bytes]]:
        return [(b"Accept", b"*/*"), *((b"Cookie", v.encode()) for v in values)]

    assert cookie_values(cookies("a=1; AWSALB=xyz; b=2"), "AWSALB") == ["xyz"]
    assert cookie_values(cookies('AWSALB="quoted"'), "AWSALB") == ["quoted"]
    assert cookie_values(cookies("AWSALBCORS=nope"), "AWSALB") == []
    assert cookie_values(cookies("a=1", "AWSALB=second"), "AWSALB") == ["second"]
    assert cookie_values(cookies("AWSALB=1; AWSALB=2", "AWSALB=3"), "AWSALB") == ["1", "2", "3"]
    assert cookie_values(cookies(), "AWSALB") == []


def test_cookie_key_from_file_is_generated_once_0600(tmp_path: Path) -> None:
    path = tmp_path / "lb-cookie.key"
    first = load_cookie_key(None, path, {})
    assert load_cookie_key(None, path, {}) == first
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(CookieKeyError, match="LBKEY is not set"):
        load_cookie_key("LBKEY", path, {})
    with pytest.raises(CookieKeyError, match="must be 32 bytes"):
        load_cookie_key("LBKEY", path, {"LBKEY": "c2hvcnQ="})


def pool(algorithm: str = "round_robin") -> TargetPool:
    checks = HealthCheckConfig(interval=1, timeout=0.5, healthy_threshold=3, unhealthy_threshold=2)
    return TargetPool(
        [Target(f"d{i}", f"http://t{i}", f"p{i}") for i in (1, 2, 3)],
        checks=checks,
        algorithm=algorithm,
    )


def test_health_thresholds_and_passive_marking() -> None:
    p = pool()
    d1 = p.targets[0]
    p.record_check(d1, True)
    assert d1.health is Health.HEALTHY  # a new target: first pass
    p.record_check(d1, False)
    assert d1.health is Health.HEALTHY  # one failure is not enough
    p.record_check(d1, False)
    assert d1.health is Health.UNHEALTHY  # type: ignore[comparison-overlap]  # mypy narrowed it
    p.record_check(d1, True)
    p.record_check(d1, True)
    assert d1.health is Health.UNHEALTHY
    p.record_check(d1, True)
    assert d1.health is Health.HEALTHY  # healthy_threshold = 3
    p.mark_down(d1, "connection refused")
    assert d1.health is Health.UNHEALTHY


def test_round_robin_skips_unhealthy_and_fails_open() -> None:
    p = pool()
    for t in p.targets:
        p.record_check(t, True)
    p.mark_down(p.targets[1], "down")
    chosen = [p.choose() for _ in range(6)]
    assert {t.id for t in chosen if t} == {"d1", "d3"}
    for t in p.targets:
        p.mark_down(t, "down")
    assert {p.choose().id for _ in range(3)} == {"d1", "d2", "d3"}  # type: ignore[union-attr]
    assert p.fail_open == 3


def test_least_outstanding_prefers_idle_targets() -> None:
    p = pool("least_outstanding")
    for t in p.targets:
        p.record_check(t, True)
    p.targets[0].in_flight, p.targets[1].in_flight = 5, 0
    p.targets[2].in_flight = 2
    assert p.choose().id == "d2"  # type: ignore[union-attr]


def test_deregistered_target_drains_then_is_unused() -> None:
    p = pool()
    d1 = p.targets[0]
    p.record_check(d1, True)
    p.deregister(d1, now=NOW, delay=300)
    assert d1.state(NOW + 1) == "draining"
    assert d1.state(NOW + 301) == "unused"
    assert not p.usable(d1)
    p.register(d1)
    assert d1.health is Health.INITIAL
