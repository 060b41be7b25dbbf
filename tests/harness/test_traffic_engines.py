"""The two traffic engines of the virtual world, the Python reference and the same in C, give
the same results to the last bit, on every design and through every path a call can take: a
token in hand, none yet (the provider is awaited), a refused one (401 after a revocation),
Analytics down, throttled, timed out, a node stopping while its call waits, the cluster's one
report, the author's, the edge's, traced and not."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import pytest

from core.topology import load_topology
from harness.designs import DESIGNS, Design
from harness.virtual import engine
from harness.virtual.outcome import VirtualResult
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings
from upstream.analytics.latency import sigma_of

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("TOKENSIM_REQUIRE_ENGINE") == "1"  # CI: the engine must be built

needs_c = pytest.mark.skipif(
    engine.compiled() is None and not REQUIRED,
    reason="the C engine is not built (make install builds it)",
)


def fields(result: VirtualResult) -> dict[str, Any]:
    out = dataclasses.asdict(result)
    del out["wall_seconds"]
    return out


def both(spec: str, **settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    topology = load_topology(ROOT / "topology.yaml")
    run = VirtualSettings(**settings)
    python = simulate(Design.parse(spec), run, topology, engine="python")
    c = simulate(Design.parse(spec), run, topology, engine="c")
    return fields(python), fields(c)


def assert_same(spec: str, **settings: Any) -> dict[str, Any]:
    python, c = both(spec, **settings)
    differ = [name for name in python if python[name] != c[name]]
    assert not differ, f"{spec} {settings}: {differ}"
    return python


@needs_c
def test_the_c_engine_is_the_one_built_from_the_source_beside_it() -> None:
    assert engine.compiled() is not None, "make install builds harness/virtual/_traffic.c"
    assert engine.engine_name() == "c"
    assert engine.engine_name(per_request=True) == "python"  # requests as events: reference


@needs_c
@pytest.mark.parametrize(
    ("spec", "refresh", "publishers"),
    [
        ("per-node", 0.0, 10),  # the rate limit binds: 429s, holds, timeouts
        ("shared+shared-report", 60.0, 3),  # the cluster's report, called in turn
        ("scheduled@1.25", 1800.0, 3),  # 401s for hours: a refused token, no new one
        ("naive", 0.0, 3),  # every waiting request calls and asks IMS
        ("author-report", 300.0, 3),  # the author calls; publishers hold no token
        ("edge-cached", 0.0, 3),
        ("replicated@0.5", 60.0, 4),  # followers fetch their own when pushes are lost
    ],
)
def test_both_engines_give_every_field_of_a_faulty_day(
    spec: str, refresh: float, publishers: int
) -> None:
    result = assert_same(
        spec, horizon=86_400.0, publishers=publishers, refresh=refresh, trace=False
    )
    assert result["analytics_calls"] > 100  # (a day that did something)


@needs_c
def test_both_engines_trace_alike_and_take_autoscaling_alike() -> None:
    traced = assert_same("per-node", horizon=30 * 3600.0, refresh=0.0, trace=True)
    assert traced["trace"] is not None
    assert traced["analytics_401s"] > 0  # the revocation's
    assert traced["analytics_429s"] > 0
    scaled = assert_same("shared", horizon=12 * 3600.0, scenario="autoscale", refresh=60.0)
    assert scaled["token_calls_per_start"] is not None
    # After the IMS outage (23 h to 26 h): fresh again when the cluster's report is, the
    # nodes' own reports (no readers) left out.
    one = assert_same("per-node+shared-report", horizon=30 * 3600.0, refresh=60.0, trace=False)
    assert one["recovery_s"] is not None


@needs_c
@pytest.mark.long  # 40 s: every design x 3 cadences x 2 sizes, a day each, on both engines
@pytest.mark.parametrize("spec", [*DESIGNS, "per-node+shared-report"])
def test_both_engines_agree_on_every_design_cadence_and_size(spec: str) -> None:
    for publishers in (3, 12):
        for refresh in (0.0, 60.0, 1800.0):
            assert_same(spec, horizon=86_400.0, publishers=publishers, refresh=refresh)


def test_a_stale_build_is_never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited _traffic.c with the old build beside it: runs take the reference."""
    engine.compiled.cache_clear()
    monkeypatch.setattr(engine, "source_digest", lambda: "not-the-build")
    try:
        assert engine.compiled() is None
        assert engine.engine_name() == "python"
        with pytest.raises(RuntimeError, match="not built"):
            simulate(
                Design.parse("per-node"),
                VirtualSettings(horizon=3600.0),
                load_topology(ROOT / "topology.yaml"),
                engine="c",
            )
    finally:
        engine.compiled.cache_clear()


def test_the_reference_is_taken_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine.ENGINE_ENV, "python")
    assert engine.engine_name() == "python"


@needs_c
def test_the_c_engine_refuses_what_it_cannot_use() -> None:
    """Bad arguments and a token_of that answers nonsense are Python errors, not a crash."""
    c_engine = engine.compiled()
    assert c_engine is not None
    settings = _settings(load_topology(ROOT / "topology.yaml"))

    def make(token_of: Any) -> Any:
        return c_engine(  # type: ignore[call-arg]
            settings,
            rng=random.Random(1),
            latency_rng=random.Random(2),
            cluster_rng=None,
            token_of=token_of,
        )

    traffic = make(lambda caller: "not a tuple")
    traffic.open_report(1, random.Random(3), 0.0)
    traffic.report_wanted(1, 0.0)
    with pytest.raises(TypeError, match="token_of"):
        traffic.run(0.0, False)
    with pytest.raises(ValueError, match="above 0"):
        traffic.open_report(0, random.Random(3), 0.0)
    with pytest.raises(ValueError, match="open already"):
        traffic.open_report(1, random.Random(3), 0.0)
    with pytest.raises(KeyError):
        traffic.close_report(7, 0.0)
    with pytest.raises(ValueError, match="outcome"):
        traffic.complete(1, 0.0, 9, 0.0)
    with pytest.raises(AttributeError, match="getstate"):  # not a random.Random
        traffic.open_report(2, object(), 0.0)
    with pytest.raises(RuntimeError, match="no action"):
        traffic.pop_action()

    def broken(caller: int) -> Any:
        raise OSError("the token layer fell over")

    failing = make(broken)
    failing.open_report(1, random.Random(3), 0.0)
    failing.report_wanted(1, 0.0)
    with pytest.raises(OSError, match="fell over"):
        failing.run(0.0, False)
    uninitialised = c_engine.__new__(c_engine)
    with pytest.raises(RuntimeError, match="not initialised"):
        uninitialised.run(0.0, False)


def _settings(topology: Any) -> engine.TrafficSettings:
    analytics = topology.simulation.analytics
    return engine.TrafficSettings(
        horizon=3600.0,
        sync=120.0,
        tolerance=0.001,
        sample_every=60.0,
        traced=False,
        site_rate=2.0,
        wall_start=0.0,
        tries=1,
        published=False,
        outages=(),
        refresh=0.0,
        failure_hold=1.0,
        failure_cap=60.0,
        throttle_base=6.0,
        throttle_cap=300.0,
        jitter=0.1,
        rate_limit=analytics.rate_limit,
        latency=analytics.latency,
        latency_sigma=sigma_of(analytics.latency),
        timeout=10.0,
    )
