"""The designs a comparison runs, registered: one entry per design says which token strategy
it runs, what it takes as a parameter, how it changes a topology, and what its row in the
designs answer says. Adding a design is adding an entry here (and its strategy in
:mod:`node.token.strategies`).

Written ``name`` or ``name@value`` on the command line and parsed once, at the edge, into a
:class:`Design` that travels whole to the rows and the report (its label is for people):

* ``scheduled@1.25``: the scheduled job runs every 1.25 token lifetimes (default 0.5, which is
  "every 12 h" for Adobe's 24 h tokens). Above 1 it cannot work, and the comparison shows it.
* ``replicated@0.2``: each push from the leader is lost with probability 0.2 (default 0);
  followers fall back to fetching their own token.

Any design may end in ``+shared-report``: the nodes then share one Analytics report through
the store (one node refreshes it under a lease, the others adopt it; the replicated design's
leader pushes it with the token) instead of each fetching its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from core.topology import (
    AuthorConfig,
    CdnConfig,
    ReplicationConfig,
    Topology,
    WidgetCacheConfig,
)
from harness.errors import DesignError
from node.token.strategies import Strategy, strategy

if TYPE_CHECKING:
    from harness.results import Row

SHARED_REPORT = "+shared-report"
REPLICATION_LAG = 0.02  # lifetimes: about 30 min for a 24 h token, a fraction of a second here

Apply = Callable[[Topology, float, float], Topology]  # (topology, lifetime, parameter value)


@dataclass(frozen=True, slots=True)
class Parameter:
    """The one number a design takes after ``@``."""

    shown: str  # what it is and its bounds, as the error message says them
    default: float
    accepts: Callable[[float], bool]


@dataclass(frozen=True, slots=True)
class Costs:
    """What a design needs to run besides IMS and Analytics (docs/strategies.md, "What each
    design costs to run"): every row of a comparison shows it beside what it measured."""

    secret_on_publish: bool = True  # every publisher holds the client secret (else: the author)
    held_at: str = "each publisher, sealed on its disk"  # where the token is kept
    shared_state: str = "none"
    moving_parts: str = "none"  # what a failure can take down

    def secret_holders(self, publishers: int) -> str:
        return f"{publishers} publishers" if self.secret_on_publish else "the author only"


@dataclass(frozen=True, slots=True)
class DesignSpec:
    name: str
    strategy: str  # the token strategy its publishers run (node.token.strategies)
    summary: str
    parameter: Parameter | None = None
    apply: Apply | None = None  # what it changes in a topology besides the strategy
    # What its row shows in the designs answer: a Jinja2 template given ``row`` (its Row),
    # ``size`` (publishers) and ``by`` (the table's rows by design name); empty: nothing
    # beyond the table. Shown when ``shows`` holds for the row.
    finding: str = ""
    shows: Callable[[Row], bool] = lambda row: True
    costs: Costs = Costs()

    @property
    def token_strategy(self) -> Strategy:
        return strategy(self.strategy)


@dataclass(frozen=True, slots=True)
class Design:
    """A design as run: its registered spec, its parameter's value, whether the cluster
    shares one report."""

    spec: DesignSpec
    value: float | None = None  # the parameter's value; None: its default
    shared_report: bool = False

    def __reduce__(self) -> tuple[object, tuple[str, float | None, bool]]:
        # By name: a spec holds functions, and designs travel to worker processes.
        return (_registered, (self.spec.name, self.value, self.shared_report))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def strategy(self) -> str:
        return self.spec.strategy

    @property
    def parameter(self) -> float | None:
        """The parameter's value in force (its default when none was given)."""
        if self.spec.parameter is None:
            return None
        return self.spec.parameter.default if self.value is None else self.value

    @property
    def label(self) -> str:
        """``scheduled@1.25+shared-report``: for people and file names, never parsed back."""
        name = self.name
        param = self.spec.parameter
        if param is not None and self.value is not None and self.value != param.default:
            name = f"{name}@{self.value:g}"
        return name + (SHARED_REPORT if self.shared_report else "")

    @property
    def costs(self) -> Costs:
        """Its spec's costs; sharing the report adds the store the report is shared through."""
        costs = self.spec.costs
        if not self.shared_report or "store" in costs.shared_state:
            return costs
        return replace(
            costs,
            shared_state="a store for the report",
            moving_parts=_and(costs.moving_parts, "the store"),
        )

    def applied(self, topology: Topology, lifetime: float) -> Topology:
        """``topology`` running this design, for tokens that live ``lifetime`` seconds."""
        topology = topology.with_token(strategy=self.strategy).evolve(
            analytics=topology.analytics.evolve(
                report_sharing="shared" if self.shared_report else "per-node"
            )
        )
        if self.spec.apply is not None:
            topology = self.spec.apply(topology, lifetime, self.parameter or 0.0)
        return topology

    @classmethod
    def parse(cls, text: str) -> Design:
        text = text.strip()
        shared = text.endswith(SHARED_REPORT)
        name, _, value = text.removesuffix(SHARED_REPORT).strip().partition("@")
        spec = DESIGNS.get(name)
        if spec is None:
            raise DesignError(
                f"unknown design {name!r} (known: {', '.join(DESIGNS)};"
                f" any of them may end in {SHARED_REPORT})"
            )
        if not value:
            return cls(spec, shared_report=shared)
        try:
            number = float(value)
        except ValueError:
            raise DesignError(f"{text!r}: expected a number after '@'") from None
        if spec.parameter is None or not spec.parameter.accepts(number):
            takes = [f"{s.name}@<{s.parameter.shown}>" for s in DESIGNS.values() if s.parameter]
            raise DesignError(f"{text!r}: only {' and '.join(takes)} take a value")
        return cls(spec, number, shared)

    @classmethod
    def of(cls, topology: Topology) -> Design:
        """The design topology.yaml runs: its token strategy, its report sharing."""
        if topology.analytics.published:
            return cls(DESIGNS["author-report"])
        if topology.analytics.widget_cache is not None:
            return cls(DESIGNS["edge-cached"])
        spec = next((s for s in DESIGNS.values() if s.strategy == topology.token.strategy), None)
        if spec is None:  # every strategy has a design of its name
            raise DesignError(f"no design runs strategy {topology.token.strategy!r}")
        return cls(spec, shared_report=topology.analytics.report_sharing == "shared")


def _and(parts: str, more: str) -> str:
    return more if parts == "none" else f"{parts}, {more}"


def _registered(name: str, value: float | None, shared_report: bool) -> Design:
    return Design(DESIGNS[name], value, shared_report)


def parse_designs(specs: str) -> tuple[Design, ...]:
    """``per-node,shared,scheduled@1.25`` to designs; raises DesignError naming the bad one."""
    designs = tuple(Design.parse(s) for s in specs.split(",") if s.strip())
    if not designs:
        raise DesignError("no design given")
    return designs


def _scheduled(topology: Topology, lifetime: float, interval: float) -> Topology:
    return topology.with_token(schedule_interval=interval * lifetime)


def _replicated(topology: Topology, lifetime: float, loss: float) -> Topology:
    replication = ReplicationConfig(lag=REPLICATION_LAG * lifetime, loss=loss, fallback="fetch")
    return topology.with_token(replication=replication)


def _aem_ims(topology: Topology, lifetime: float, single_flight: float) -> Topology:
    """AEM's provider as documented; where the documentation is silent on concurrent callers,
    ``@0`` is the reading where each caller makes its own call (the naive strategy)."""
    return topology if single_flight else topology.with_token(strategy="naive")


def _hourly(topology: Topology, lifetime: float, _: float) -> Topology:
    return topology.with_token(schedule_interval=lifetime / 24)  # 1 h of a 24 h token


AUTHOR_PORT = 4502  # AEM author's port; a run on free ports moves it like every other


def _author_report(topology: Topology, lifetime: float, _: float) -> Topology:
    """The author fetches the report and publishes it; publishers hold no secret, no token."""
    author = topology.author or AuthorConfig(port=AUTHOR_PORT)
    return topology.evolve(
        author=author,
        analytics=topology.analytics.evolve(report_source="published", report_sharing="per-node"),
    )


def _edge_cached(topology: Topology, lifetime: float, _: float) -> Topology:
    """The widget's data marked cacheable for the report's cadence, fetched when a cache asks
    for it, kept by the dispatcher (/enableTTL) and the CDN in front of the balancer."""
    cadence = topology.analytics.report_refresh or 1800.0  # already scaled to the run
    widget = WidgetCacheConfig(
        max_age=cadence, stale_while_revalidate=cadence, stale_if_error=48 * cadence
    )
    cache = topology.dispatcher.cache.evolve(enabled=True, enable_ttl=True)
    cdn = topology.cdn or CdnConfig(probe_interval=min(5.0, max(1.0, cadence / 4)))
    return topology.evolve(
        cdn=cdn if topology.lb is not None else None,  # the virtual world has no balancer
        analytics=topology.analytics.evolve(report_refresh=0.0, widget_cache=widget),
        dispatcher=topology.dispatcher.evolve(cache=cache),
    )


def _late(row: Row) -> bool:
    """A scheduler whose interval is longer than the lifetime: its 401s show it."""
    return row.analytics_401s > 0 and (row.design.parameter or 0.0) > 1.0


DESIGNS: Mapping[str, DesignSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            DesignSpec(
                "per-node",
                "per-node",
                "each publisher keeps its own token, sealed on its disk, and refreshes it alone",
                finding=(
                    "{% set shared = by.get('shared') %}{% if shared %}Per-node makes "
                    "{{ '%.1f' | format(row.token_calls / [1, shared.token_calls] | max) }} times "
                    "the token calls of shared ({{ row.token_calls }} against "
                    "{{ shared.token_calls }}), a few a day that IMS does not notice, and needs "
                    "nothing else: no store, no key to share, no replication. It is the design "
                    "to copy.{% endif %}"
                ),
            ),
            DesignSpec(
                "shared",
                "shared",
                "one token for the cluster in a store; the lease holder refreshes it",
                costs=Costs(
                    held_at="a store, sealed with the cluster key",
                    shared_state="a store and one key on every node",
                    moving_parts="the store",
                ),
            ),
            DesignSpec(
                "replicated",
                "replicated",
                "a leader refreshes and pushes the sealed token to the followers",
                Parameter("loss probability, 0..1", 0.0, lambda loss: 0.0 <= loss <= 1.0),
                _replicated,
                costs=Costs(
                    held_at="each publisher, pushed from the leader",
                    shared_state="one key on every node",
                    moving_parts="the leader, the replication path",
                ),
            ),
            DesignSpec(
                "scheduled",
                "scheduled",
                "a leader's job refreshes on a fixed interval; every node uses what it published",
                Parameter("interval in lifetimes, > 0", 0.5, lambda interval: interval > 0),
                _scheduled,
                finding=(
                    "A scheduler whose interval is longer than the lifetime "
                    "({{ row.design.label }}) hands out expired tokens: "
                    "{{ row.analytics_401s | thousands }} Analytics 401s and "
                    "{{ row.stale_responses | thousands }} stale replies."
                ),
                shows=_late,
                costs=Costs(
                    held_at="a store",
                    shared_state="a store and one key on every node",
                    moving_parts="the store, the leader's job",
                ),
            ),
            DesignSpec(
                "aem-ims",
                "on-expiry",
                "AEM's own IMS integration: each publisher's token in memory, fetched again "
                "once expired, one call at a time (aem-ims@0: each caller its own call)",
                Parameter("single flight, 1 or 0", 1.0, lambda value: value in (0.0, 1.0)),
                _aem_ims,
                finding=(
                    "AEM's own IMS integration ({{ row.design.label }}) made "
                    "{{ row.token_calls }} token calls, met "
                    "{{ row.analytics_401s | thousands }} Analytics 401s and left "
                    "{{ row.user_errors | thousands }} user errors: it keeps no token across a "
                    "restart, refreshes nothing ahead of expiry, and an IMS outage at expiry "
                    "leaves it without a token."
                ),
                costs=Costs(held_at="each publisher, in memory"),
            ),
            DesignSpec(
                "hourly",
                "node-scheduler",
                "a scheduler on every publisher fetches a new token every hour, in memory",
                apply=_hourly,
                finding=(
                    "A scheduler on every publisher refreshing hourly makes "
                    "{{ row.token_calls | thousands }} token calls, "
                    "{{ '%.0f' | format(row.token_calls / [1, size] | max) }} a publisher "
                    "where per-node makes a handful, for no fewer errors."
                ),
                costs=Costs(held_at="each publisher, in memory"),
            ),
            DesignSpec(
                "author-report",
                "per-node",  # the author's own token; publishers have none
                "the author fetches the report and publishes it to every publisher as content; "
                "publishers hold no secret and no token",
                apply=_author_report,
                finding=(
                    "Publishing the report from the author (author-report) takes the token off "
                    "the publish tier: {{ row.token_calls | thousands }} token calls in all, "
                    "by the author alone, and {{ row.user_errors | thousands }} user errors. "
                    "Its weak point is the author: while it is down nothing is published, and "
                    "the report users see gets older ({{ (row.report_age_p99_s or 0) | duration "
                    "}} at the 99th percentile of views)."
                ),
                costs=Costs(
                    secret_on_publish=False,
                    held_at="the author only",
                    shared_state="one key on every publisher (to open a published report)",
                    moving_parts="the author, its replication queues, the dispatcher flush",
                ),
            ),
            DesignSpec(
                "edge-cached",
                "per-node",
                "the widget's data cached at the edge: the CDN and the dispatchers keep it for "
                "max-age, serve it stale while one request refreshes it and while the origin "
                "fails",
                apply=_edge_cached,
                finding=(
                    "Caching the widget at the edge (edge-cached) made "
                    "{{ row.analytics_calls | thousands }} Analytics calls for "
                    "{{ row.requests | thousands }} requests, with "
                    "{{ row.user_errors | thousands }} user errors."
                ),
                costs=Costs(
                    shared_state="one copy of the widget's data at the CDN",
                    moving_parts="the CDN, the dispatcher's TTL cache",
                ),
            ),
            DesignSpec(
                "naive",
                "naive",
                "the baseline: fetch on expiry, every request on its own, nothing saved",
                finding=(
                    "Fetching only on expiry, each request on its own (naive), stampedes: "
                    "{{ row.peak_concurrent_token_calls }} calls at once for {{ size }} nodes, "
                    "{{ row.token_calls }} calls in all."
                ),
                shows=lambda row: row.peak_concurrent_token_calls > row.publishers,
                costs=Costs(held_at="each publisher, in memory"),
            ),
        )
    }
)
