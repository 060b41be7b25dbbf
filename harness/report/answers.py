"""The thread's questions, answered with the numbers of the runs in a report.

Each answer is data and prose kept apart: a finding (a small typed record of the rows and
numbers it rests on, with links to the sections they are in) selected here, and its wording
in a template (``templates/answers/<anchor>.md.j2``, macros ``verdict`` and ``text``). What a
design contributes in its own words comes from the design registry (:mod:`harness.designs`),
and numbers that are configuration (the rate limit, the lifetime) from :class:`Facts`, never
from literals. An answer whose runs are not in the report says so and names the command that
measures it: it never guesses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from core.topology import RateLimitConfig
from harness.designs import DESIGNS
from harness.fixed_iv import FixedIvFinding
from harness.report.model import Answer, Section
from harness.report.templating import environment
from harness.results import Row, World
from harness.virtual.timeline import LIFETIME

DEMO = "`make demo`"
RESTART_WINDOW = 300.0  # seconds: "calls on restart" counts a restarted node's first minutes


@dataclass(frozen=True, slots=True)
class Facts:
    """What the answers state that is configuration, not a measurement."""

    lifetime_s: int = LIFETIME  # what IMS grants
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)  # per client
    restart_window_s: float = RESTART_WINDOW


def answers(
    sections: Sequence[Section],
    facts: Facts | None = None,
    *,
    fixed_iv: FixedIvFinding | None = None,
) -> tuple[Answer, ...]:
    """The answers from ``sections``; ``fixed_iv``: what sealing with the thread's fixed IV
    cost when this run tried it (:mod:`harness.fixed_iv`)."""
    found = _Finder(sections, facts or Facts())
    return (
        found.answer("where", "Where do we keep the token?", _where(found, fixed_iv)),
        found.answer("refresh", "Is there a refresh token?", _refresh(found)),
        found.answer("sticky", "Do we need sticky sessions?", _sticky(found)),
        found.answer(
            "designs",
            "One token per publisher, or shared, replicated, or fetched by a scheduler?",
            _designs(found),
        ),
        found.answer("growth", "What breaks first as the estate grows?", _growth(found)),
        found.answer("cloud", "And on AEM as a Cloud Service?", _cloud(found)),
    )


@dataclass(frozen=True, slots=True)
class Missing:
    """The runs an answer needs are not in this report."""

    what: str


class _Finder:
    """The rows of a report, and the section each is in (for links)."""

    def __init__(self, sections: Sequence[Section], facts: Facts) -> None:
        self.facts = facts
        self.rows: list[tuple[Row, Section]] = [
            (run.row, section) for section in sections for run in section.runs
        ]

    def find(self, where: Callable[[Row], bool]) -> list[Row]:
        return [row for row, _ in self.rows if where(row)]

    def link(self, row: Row, text: str) -> str:
        anchor = next(section.anchor for r, section in self.rows if r is row)
        return f"[{text}](#{anchor})"

    def answer(self, anchor: str, question: str, finding: object) -> Answer:
        if isinstance(finding, Missing):
            text = f"Not measured in this report: it has no {finding.what}. {DEMO} runs them."
            return Answer(anchor, question, text, measured=False)
        module: Any = environment().get_template(f"answers/{anchor}.md.j2").module
        measured = not isinstance(finding, Refresh) or finding.row is not None
        return Answer(
            anchor,
            question,
            str(module.text(finding)).strip(),
            measured=measured,
            verdict=str(module.verdict(finding)).strip() if measured else "",
        )


def _virtual(row: Row) -> bool:
    return row.world is World.VIRTUAL


def _plain(row: Row) -> bool:
    """A design without its report shared."""
    return not row.design.shared_report


# --- where do we keep the token ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Where:
    leaks: int | None  # tokens in responses to visitors (None: no real run checked)
    requests: int
    leak_link: str
    restart: Row | None  # the per-node run with a restart
    memory_only: Row | None  # naive's, for contrast
    restart_link: str
    restart_window: str
    fixed_iv: FixedIvFinding | None = None


def _where(f: _Finder, fixed_iv: FixedIvFinding | None = None) -> Where | Missing:
    checked = f.find(lambda r: r.token_leaks is not None)
    restarts = f.find(lambda r: r.token_calls_on_restart is not None and _plain(r))
    if not checked and not restarts:
        return Missing("run on real processes (the leak check)")
    by_design = {r.design.name: r for r in restarts}
    own = by_design.get("per-node")
    return Where(
        leaks=sum(r.token_leaks or 0 for r in checked) if checked else None,
        requests=sum(r.requests for r in checked),
        leak_link=f.link(checked[0], "the leak check") if checked else "",
        restart=own,
        memory_only=by_design.get("naive"),
        restart_link=f.link(own, "the week") if own else "",
        restart_window=_minutes(f.facts.restart_window_s),
        fixed_iv=fixed_iv,
    )


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:g} minutes" if minutes != 1 else "minute"


# --- is there a refresh token -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refresh:
    lifetime_s: int
    row: Row | None  # the smallest per-node run over several lifetimes in virtual time
    lifetimes: float = 0.0
    per_node: float = 0.0
    link: str = ""

    @property
    def per_lifetime(self) -> float:
        return self.per_node / self.lifetimes if self.lifetimes else 0.0


def _refresh(f: _Finder) -> Refresh:
    week = f.find(
        lambda r: (
            _virtual(r)
            and r.design.name == "per-node"
            and _plain(r)
            and r.scenario in ("faults", "steady")
            and r.horizon_s is not None
            and r.lifetime_s is not None
        )
    )
    if not week:
        return Refresh(f.facts.lifetime_s, None)
    row = min(week, key=lambda r: r.publishers)
    return Refresh(
        f.facts.lifetime_s,
        row,
        lifetimes=(row.horizon_s or 0) / (row.lifetime_s or 1),
        per_node=row.token_calls / max(1, row.publishers),
        link=f.link(row, "the week"),
    )


# --- do we need sticky sessions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sticky:
    on: Row
    off: Row
    link: str

    @property
    def same(self) -> bool:
        """Stickiness off changed neither errors nor (much) token calls."""
        return (
            self.off.user_errors <= self.on.user_errors
            and self.off.token_calls <= self.on.token_calls * 1.5 + 1
        )


def _sticky(f: _Finder) -> Sticky | Missing:
    pairs = [
        (on, off)
        for off in f.find(lambda r: r.world is World.REAL and r.sticky is False)
        for on in f.find(lambda r: r.world is World.REAL and r.sticky is True)
        if on.design == off.design and on.scenario == off.scenario
    ]
    if not pairs:
        return Missing("run with stickiness off")
    on, off = next(((a, b) for a, b in pairs if a.design.name == "per-node"), pairs[0])
    return Sticky(on, off, f.link(off, "sticky on and off"))


# --- which design -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Designs:
    virtual: bool  # the week in virtual time, else real processes
    size: int
    rows: tuple[Row, ...]
    needs: tuple[str, ...]  # per row: what else the design needs
    findings: tuple[str, ...]  # what each design's row shows, in the registry's words
    accepted: Row | None  # per-node's
    link: str


def _designs(f: _Finder) -> Designs | Missing:
    week = f.find(lambda r: _virtual(r) and r.scenario == "faults" and _plain(r))
    real = f.find(lambda r: r.world is World.REAL and r.sticky is True and _plain(r))
    rows = week or real
    if len(rows) < 2:
        return Missing("comparison of the designs")
    size = min(r.publishers for r in rows)
    rows = [r for r in rows if r.publishers == size]
    by = {r.design.label: r for r in rows}
    env = environment()
    findings = tuple(
        text
        for r in rows
        if (spec := DESIGNS[r.design.name]).finding and spec.shows(r)
        if (text := env.from_string(spec.finding).render(row=r, size=size, by=by).strip())
    )
    return Designs(
        virtual=bool(week),
        size=size,
        rows=tuple(rows),
        needs=tuple(_needs(r) for r in rows),
        findings=findings,
        accepted=by.get("per-node"),
        link=f.link(rows[0], "the runs"),
    )


def _needs(row: Row) -> str:
    """What the design needs besides IMS and Analytics (the registry's costs)."""
    costs = row.design.costs
    parts = [] if costs.shared_state == "none" else [costs.shared_state]
    if not costs.secret_on_publish:
        parts.insert(0, "the client secret on the author only")
    return "; ".join(parts) or "nothing else"


# --- what breaks first as the estate grows ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Growth:
    sizes: tuple[int, ...]
    by_size: dict[int, Row]  # per-node at the estate's cadence (Adobe's: 30 minutes)
    cadence_s: float
    shared: Row | None  # the largest size with one report for the cluster
    page_load: dict[int, Row]  # per-node with a report fetched on every page load
    link: str
    page_load_link: str
    limit: RateLimitConfig

    @property
    def limit_requests(self) -> int:
        return self.limit.requests

    @property
    def limit_per(self) -> float:
        return self.limit.per

    @property
    def limit_per_minute(self) -> float:
        return self.limit.requests * 60 / self.limit.per

    @property
    def limit_per_hour(self) -> float:
        return self.limit.requests * 3600 / self.limit.per

    @property
    def errors_seen(self) -> bool:
        return any(self.by_size[n].user_errors for n in self.sizes)

    @property
    def throttled_from(self) -> int | None:
        return next((n for n in self.sizes if self.by_size[n].analytics_429s), None)

    @property
    def page_load_sizes(self) -> tuple[int, ...]:
        return tuple(sorted(self.page_load))

    @property
    def page_load_throttled_from(self) -> int | None:
        return next((n for n in self.page_load_sizes if self.page_load[n].analytics_429s), None)


def _growth(f: _Finder) -> Growth | Missing:
    groups: dict[tuple[str, float | None], list[Row]] = {}
    for row in f.find(lambda r: _virtual(r) and r.design.name == "per-node" and _plain(r)):
        groups.setdefault((row.scenario, row.report_refresh_s), []).append(row)
    scheduled = {k: v for k, v in groups.items() if k[1] != 0.0}
    key = max(scheduled, key=lambda k: len({r.publishers for r in scheduled[k]}), default=None)
    own = scheduled[key] if key is not None else []
    sizes = tuple(sorted({r.publishers for r in own}))
    if key is None or len(sizes) < 2:
        return Missing("runs at several sizes")
    by_size = {r.publishers: r for r in own}
    scenario = key[0]
    shared = f.find(
        lambda r: (
            _virtual(r)
            and not _plain(r)
            and r.publishers == sizes[-1]
            and r.scenario == scenario
            and r.report_refresh_s == key[1]
        )
    )
    page_load = {r.publishers: r for r in groups.get((scenario, 0.0), [])}
    top = max(page_load, default=None)
    return Growth(
        sizes,
        by_size,
        key[1] or 0.0,
        shared[0] if shared else None,
        page_load,
        f.link(by_size[sizes[-1]], "by size"),
        "" if top is None else f.link(page_load[top], "a report per page load"),
        f.facts.rate_limit,
    )


# --- AEM as a Cloud Service ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cloud:
    per_start: tuple[tuple[str, float], ...]  # (design, token calls per instance start)
    errors: int
    requests: int
    own: float | None  # per-node's calls per start
    own_errors: int
    link: str


def _cloud(f: _Finder) -> Cloud | Missing:
    rows = f.find(lambda r: r.token_calls_per_start is not None)
    if not rows:
        return Missing("autoscale run")
    by: dict[str, list[Row]] = {}
    for r in rows:
        by.setdefault(r.design.label, []).append(r)
    own = by.get("per-node", [])
    return Cloud(
        per_start=tuple(
            (label, mean(r.token_calls_per_start or 0 for r in runs)) for label, runs in by.items()
        ),
        errors=sum(r.user_errors for r in rows),
        requests=sum(r.requests for r in rows),
        own=mean(r.token_calls_per_start or 0 for r in own) if own else None,
        own_errors=sum(r.user_errors for r in own),
        link=f.link(rows[0], "autoscale"),
    )
