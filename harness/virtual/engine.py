"""The two traffic engines' common ground: what they are given (:class:`TrafficSettings`), what
their batch returns, what they count, and which one a run gets (:func:`new_traffic`).

The reference is :class:`harness.virtual.traffic.Traffic`, in Python. The same engine in C,
:mod:`harness.virtual._traffic`, is built by ``make install`` where a C compiler is
(``harness/virtual/build_engine.py``); a run takes it unless told not to, or when it needs page
requests as events (``per_request``, the reference's alone). Both give the same results to the
last bit (``tests/harness/test_traffic_engines.py``); the C one in a tenth of the time and
less (``docs/benchmarks.md``). ``TOKENSIM_TRAFFIC=python`` makes every run take the reference.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import random
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tokensim_token import AccessToken

from core.topology import LatencyConfig, RateLimitConfig
from harness.virtual.users import Users

# Kinds of event on the heap (an action's value is the simulation's; the others the engine's).
CALL, ACTION, SAMPLE, REQUEST = 0, 2, 3, 4
# Why a batch stopped (Traffic.run), or what a call did (Traffic.try_call): DONE, or handed
# back to the simulation. LATER: the next event lies beyond what the token layer has reached;
# END: nothing more before the horizon; DUE_ACTION: an action of the timeline is next;
# NEEDS_TOKEN: the caller of ``stopped_slot`` holds no usable token; REFUSED_TOKEN: Analytics
# refused ``refused`` (a 401: drop it, wait for another); SAMPLED: a traced sample was counted.
DONE, LATER, END, DUE_ACTION, NEEDS_TOKEN, REFUSED_TOKEN, SAMPLED = range(7)

ENGINE_ENV = "TOKENSIM_TRAFFIC"  # "python": the reference engine for every run
ENGINE_SOURCE = Path(__file__).with_name("_traffic.c")

# A caller's token for the batch, as its provider holds it: (the token or None when it has no
# usable one, the wall time until which IMS accepts it); None when the caller is down.
TokenOf = Callable[[int], "tuple[AccessToken | None, float] | None"]


@dataclass(frozen=True, slots=True)
class TrafficSettings:
    """Everything an engine needs, derived once from topology.yaml and the run's settings."""

    horizon: float
    sync: float  # how far the token layer may run behind the event handled
    tolerance: float  # ... when a task waits for a token, or an action is next
    sample_every: float
    traced: bool
    site_rate: float  # page requests per second of the whole site
    wall_start: float
    tries: int  # Analytics calls per refresh (naive: every waiting request calls)
    published: bool  # author-report: the author calls for the cluster's report
    outages: tuple[tuple[float, float], ...]  # IMS outages, for "during the IMS outage"
    # The report policy (node.report_policy.ReportPolicy) and its jitter.
    refresh: float
    failure_hold: float
    failure_cap: float
    throttle_base: float
    throttle_cap: float
    jitter: float
    # Analytics: its rate limit, its latency model, and the caller's timeout.
    rate_limit: RateLimitConfig
    latency: LatencyConfig
    latency_sigma: float  # of the latency's log-normal (upstream.analytics.latency)
    timeout: float


@dataclass(frozen=True, slots=True)
class TrafficCounts:
    """Running totals: Analytics' calls by outcome (ok, 401, 429, unavailable), its busiest
    minute, and the requests users were served stale or not at all."""

    by_outcome: tuple[int, ...]
    per_minute_peak: int
    stale: float
    errors: float

    @property
    def calls(self) -> int:
        return sum(self.by_outcome)


class TrafficEngine(Protocol):
    """What the simulation calls (both engines; see :mod:`harness.virtual.traffic`)."""

    seq: int
    author_up: bool
    ims_back_at: float | None
    refused: AccessToken | None
    stopped_slot: int
    stopped_at: float

    def push_action(self, at: float, index: int) -> None: ...
    def push_sample(self, at: float) -> None: ...
    def head_at(self) -> float | None: ...
    def pop_action(self) -> tuple[float, int]: ...
    def run(self, now: float, waiting: bool) -> int: ...
    def forget_tokens(self) -> None: ...
    def try_call(self, slot_id: int, at: float) -> int: ...
    def complete(self, slot_id: int, at: float, outcome: int, seconds: float) -> None: ...
    def flight(self, slot_id: int) -> tuple[int, int, float, bool] | None: ...
    def open_report(self, slot_id: int, rng: random.Random, now: float) -> None: ...
    def report_wanted(self, slot_id: int, now: float) -> None: ...
    def close_report(self, slot_id: int, now: float) -> None: ...
    def set_callers(self, callers: list[int]) -> None: ...
    def flush(self, now: float) -> None: ...
    def note_recovery(self, at: float) -> None: ...
    def set_outage(self, down: bool) -> None: ...
    def counts(self) -> TrafficCounts: ...
    def seen(self) -> Users: ...


def built_path() -> Path:
    """Where the C engine is built for this interpreter (beside its source)."""
    return ENGINE_SOURCE.with_name("_traffic" + str(sysconfig.get_config_var("EXT_SUFFIX")))


def source_digest() -> str:
    """What the C engine's build carries of its source: a run takes no stale build."""
    return hashlib.sha256(ENGINE_SOURCE.read_bytes()).hexdigest()[:16]


@functools.cache
def compiled() -> type[TrafficEngine] | None:
    """The C engine's class, when it was built for this interpreter from the source beside
    it (``python -m harness.virtual.build_engine``)."""
    try:
        module = importlib.import_module("harness.virtual._traffic")
    except ImportError:
        return None
    if getattr(module, "SOURCE_DIGEST", None) != source_digest():
        return None  # built from another _traffic.c: make install builds it again
    engine: type[TrafficEngine] = module.Traffic
    return engine


def engine_name(per_request: bool = False) -> str:
    """Which engine a run gets: "c" or "python"."""
    if per_request or os.environ.get(ENGINE_ENV, "").lower() == "python":
        return "python"
    return "c" if compiled() is not None else "python"


def new_traffic(
    settings: TrafficSettings,
    *,
    rng: random.Random,
    latency_rng: random.Random,
    cluster_rng: random.Random | None,
    token_of: TokenOf,
    per_request: bool = False,
    engine: str | None = None,
) -> TrafficEngine:
    """A traffic engine for one run: ``engine`` ("c" or "python"), else :func:`engine_name`'s."""
    chosen = engine or engine_name(per_request)
    if chosen == "c" and not per_request:
        c_engine = compiled()
        if c_engine is None:
            raise RuntimeError("the C traffic engine is not built (make install builds it)")
        return c_engine(  # type: ignore[call-arg]
            settings, rng=rng, latency_rng=latency_rng, cluster_rng=cluster_rng, token_of=token_of
        )
    from harness.virtual.traffic import Traffic  # the reference imports this module

    return Traffic(
        settings,
        rng=rng,
        latency_rng=latency_rng,
        cluster_rng=cluster_rng,
        token_of=token_of,
        per_request=per_request,
    )
