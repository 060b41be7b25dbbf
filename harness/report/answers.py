"""The thread's questions, answered with the numbers of the runs in a report.

Each answer states what the runs show and links to the section it draws on. An answer whose
runs are not in the report says so and names the command that measures it: it never guesses.
The facts that are not measured (what the grant returns, what AEM as a Cloud Service does) are
in ``docs/`` with their sources.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import mean

from harness.designs import Design
from harness.report.model import Answer, Section
from harness.results import Row
from node.token.strategies import strategy

DEMO = "`make demo`"


def answers(sections: Sequence[Section]) -> tuple[Answer, ...]:
    finder = _Finder(sections)
    return (
        _where_to_keep(finder),
        _refresh_token(finder),
        _sticky(finder),
        _designs(finder),
        _growth(finder),
        _cloud_service(finder),
    )


class _Finder:
    """The rows of a report, and the section each is in (for links)."""

    def __init__(self, sections: Sequence[Section]) -> None:
        self.rows: list[tuple[Row, Section]] = [
            (run.row, section) for section in sections for run in section.runs
        ]

    def find(self, where: Callable[[Row], bool]) -> list[Row]:
        return [row for row, _ in self.rows if where(row)]

    def link(self, row: Row, text: str) -> str:
        anchor = next(section.anchor for r, section in self.rows if r is row)
        return f"[{text}](#{anchor})"


def _real(row: Row) -> bool:
    return row.sticky is not None  # the virtual world has no balancer


def _strategy(row: Row) -> str:
    return Design.parse(row.design).strategy


def _plain(row: Row) -> bool:
    """A design without its report shared."""
    return not Design.parse(row.design).shared_report


def _missing(anchor: str, question: str, what: str) -> Answer:
    return Answer(
        anchor,
        question,
        f"Not measured in this report: it has no {what}. {DEMO} runs them.",
        measured=False,
    )


def _where_to_keep(f: _Finder) -> Answer:
    question = "Where do we keep the token?"
    text = (
        "On the publisher that uses it: in its memory, and sealed (AES-256-GCM, a fresh nonce "
        "each time, the key outside the repository) in a file on its own disk, so that a "
        "restart reuses it; with the shared design, sealed in the shared store. Never in a "
        "cookie, a page or the dispatcher's cache: the browser never needs it, because the "
        "publisher calls Analytics itself and sends the browser the report."
    )
    checked = f.find(lambda r: r.token_leaks is not None)
    restarts = f.find(lambda r: r.token_calls_on_restart is not None and _plain(r))
    if not checked and not restarts:
        return _missing("where", question, "run on real processes (the leak check)")
    if checked:
        leaks = sum(r.token_leaks or 0 for r in checked)
        requests = sum(r.requests for r in checked)
        text += (
            f" In this report, {leaks:,} of {requests:,} responses to visitors carried a "
            f"token ({f.link(checked[0], 'the leak check')}, every real run)."
        )
    by_design = {_strategy(r): r for r in restarts}
    if "per-node" in by_design:
        row = by_design["per-node"]
        text += (
            f" A restarted per-node publisher made {row.token_calls_on_restart:g} token calls "
            f"in its first 5 minutes ({f.link(row, 'the week')}): it unsealed its file"
        )
        naive = by_design.get("naive")
        text += (
            f"; naive, which keeps the token in memory only, made {naive.token_calls_on_restart:g}."
            if naive is not None and naive.token_calls_on_restart is not None
            else "."
        )
    verdict = "On each publisher: in memory, and sealed on its own disk."
    if checked:
        verdict += f" {sum(r.token_leaks or 0 for r in checked):,} tokens reached a browser."
    return Answer("where", question, text, measured=True, verdict=verdict)


def _refresh_token(f: _Finder) -> Answer:
    question = "Is there a refresh token?"
    text = (
        "No. The `client_credentials` grant returns `access_token`, `token_type` and "
        "`expires_in` (86399 s) and no `refresh_token` (docs/wire-formats.md); the replies that "
        "advise using one describe the authorization-code grant. The publisher simply asks "
        "IMS for a new token with its client credentials before the one it has expires."
    )
    week = f.find(
        lambda r: (
            not _real(r)
            and r.design == "per-node"
            and r.scenario in ("faults", "steady")
            and r.horizon_s is not None
            and r.lifetime_s is not None
        )
    )
    if not week:
        return Answer("refresh", question, text + " (No run in this report counted the calls.)",
                      measured=False)  # fmt: skip
    row = min(week, key=lambda r: r.publishers)
    lifetimes = (row.horizon_s or 0) / (row.lifetime_s or 1)
    per_node = row.token_calls / max(1, row.publishers)
    text += (
        f" Over {lifetimes:.1f} lifetimes in virtual time each per-node publisher made "
        f"{per_node:.1f} token calls ({f.link(row, 'the week')}): {per_node / lifetimes:.1f} "
        "per lifetime. It asks at start, at each token's half-life, and again only when "
        "Analytics refuses a token (a revocation)."
    )
    verdict = f"No. It asks IMS again before expiry: {per_node / lifetimes:.1f} calls a lifetime."
    return Answer("refresh", question, text, measured=True, verdict=verdict)


def _sticky(f: _Finder) -> Answer:
    question = "Do we need sticky sessions?"
    pairs = [
        (on, off)
        for off in f.find(lambda r: r.sticky is False)
        for on in f.find(lambda r: r.sticky is True)
        if on.design == off.design and on.scenario == off.scenario
    ]
    if not pairs:
        return _missing("sticky", question, "run with stickiness off")
    on, off = next(((a, b) for a, b in pairs if _strategy(a) == "per-node"), pairs[0])
    same = off.user_errors <= on.user_errors and off.token_calls <= on.token_calls * 1.5 + 1
    measured = (
        f"With stickiness off, {off.design} served {off.requests:,} requests with "
        f"{off.user_errors:,} user errors and {off.token_calls} token calls, against "
        f"{on.user_errors:,} errors and {on.token_calls} calls with it on "
        f"({f.link(off, 'sticky on and off')}); visitors' requests moved between publishers "
        f"{off.session_moves or 0:,} times (on: {on.session_moves or 0:,})."
    )
    if same:
        text = (
            f"Not for the token. {measured} It made no difference, because each publisher holds "
            "a token for itself and any of them can answer any request. Stickiness is for the "
            "site's own sessions, not for this token."
        )
    else:
        text = f"In this run it mattered: {measured} Look at the run's folder for why."
    if off.analytics_401s or off.stale_responses:
        text += (
            f" (Off: {off.analytics_401s} Analytics 401s and {off.stale_responses} stale replies; "
            f"on: {on.analytics_401s} and {on.stale_responses}.)"
        )
    verdict = (
        f"No: without it, {off.user_errors:,} errors and the same token calls."
        if same
        else "In this run, it mattered."
    )
    return Answer("sticky", question, text, measured=True, verdict=verdict)


def _needs(design: str) -> str:
    s = strategy(Design.parse(design).strategy)
    needs = [
        what
        for what, needed in (
            ("a shared store", s.needs_store),
            ("one key on every node", s.needs_cluster_key),
            ("a replication path", s.needs_replication),
        )
        if needed
    ]
    return ", ".join(needs) or "nothing else"


def _designs(f: _Finder) -> Answer:
    question = "One token per publisher, or shared, replicated, or fetched by a scheduler?"
    week = f.find(lambda r: not _real(r) and r.scenario == "faults" and _plain(r))
    real = f.find(lambda r: _real(r) and r.sticky is True and _plain(r))
    rows = week or real
    if len(rows) < 2:
        return _missing("designs", question, "comparison of the designs")
    size = min(r.publishers for r in rows)
    rows = [r for r in rows if r.publishers == size]
    lines = [
        "| design | token calls | peak at once | Analytics 401s | stale | user errors | needs |",
        "|---|--:|--:|--:|--:|--:|---|",
        *(
            f"| {r.design} | {r.token_calls:,} | {r.peak_concurrent_token_calls} | "
            f"{r.analytics_401s:,} | {r.stale_responses:,} | {r.user_errors:,} | "
            f"{_needs(r.design)} |"
            for r in rows
        ),
    ]
    by = {r.design: r for r in rows}
    text = (
        f"{'Over the week' if week else 'On real processes'}, {size} publishers "
        f"({f.link(rows[0], 'the runs')}):\n\n" + "\n".join(lines) + "\n\n"
    )
    verdicts = []
    per_node, shared = by.get("per-node"), by.get("shared")
    if per_node and shared:
        verdicts.append(
            f"Per-node makes {per_node.token_calls / max(1, shared.token_calls):.1f} times the "
            f"token calls of shared ({per_node.token_calls} against {shared.token_calls}), a "
            "few a day that IMS does not notice, and needs nothing else: no store, no key to "
            "share, no replication. It is the design to copy."
        )
    late = [r for d, r in by.items() if d.startswith("scheduled@")] or [
        r for d, r in by.items() if d == "scheduled" and r.analytics_401s
    ]
    if late:
        r = late[0]
        verdicts.append(
            f"A scheduler whose interval is longer than the lifetime ({r.design}) hands out "
            f"expired tokens: {r.analytics_401s:,} Analytics 401s and {r.stale_responses:,} "
            "stale replies."
        )
    naive = by.get("naive")
    if naive:
        verdicts.append(
            f"Fetching only on expiry, each request on its own (naive), stampedes: "
            f"{naive.peak_concurrent_token_calls} calls at once for {size} nodes, "
            f"{naive.token_calls} calls in all."
        )
    verdict = "See the table: no per-node run to compare with."
    if per_node is not None:
        verdict = (
            "One token per publisher: every check held, nothing to share."
            if per_node.passed == per_node.invariants
            else "Per-node failed a check in this run: see the table."
        )
    return Answer("designs", question, text + " ".join(verdicts), measured=True, verdict=verdict)


def _growth(f: _Finder) -> Answer:
    question = "What breaks first as the estate grows?"
    by_scenario: dict[str, list[Row]] = {}
    for row in f.find(lambda r: not _real(r) and r.design == "per-node"):
        by_scenario.setdefault(row.scenario, []).append(row)
    own = max(by_scenario.values(), key=lambda rows: len({r.publishers for r in rows}), default=[])
    sizes = sorted({r.publishers for r in own})
    if len(sizes) < 2:
        return _missing("growth", question, "runs at several sizes")
    by_size = {r.publishers: r for r in own}
    scenario = own[0].scenario
    peaks = ", ".join(
        f"{by_size[n].analytics_peak_per_minute or 0:,}/min at {n} publishers ({by_size[n].analytics_429s or 0:,} 429s)"  # noqa: E501
        for n in sizes
    )
    calls = ", ".join(f"{by_size[n].token_calls:,}" for n in sizes)
    text = (
        "Analytics' rate limit, not IMS. Adobe allows 12 calls per 6 seconds per client, 120 "
        "a minute, and every publisher calls as the same client: with each fetching its own "
        f"report, the estate peaked at {peaks} ({f.link(by_size[sizes[-1]], 'by size')}). "
        f"Token calls grew with the size too ({calls}), a handful a day per publisher."
    )
    shared = f.find(
        lambda r: (
            not _real(r) and not _plain(r) and r.publishers == sizes[-1] and r.scenario == scenario
        )
    )
    if shared:
        r = shared[0]
        text += (
            f" Sharing the report (one refresh for the cluster, {r.design}) kept "
            f"{sizes[-1]} publishers at {r.analytics_peak_per_minute or 0:,}/min with "
            f"{r.analytics_429s or 0:,} 429s."
        )
    errors = [by_size[n].user_errors for n in sizes]
    if any(errors):
        text += (
            " Users noticed: "
            + ", ".join(f"{e:,} errors at {n}" for n, e in zip(sizes, errors, strict=True))
            + "."
        )
    throttled = [n for n in sizes if by_size[n].analytics_429s]
    verdict = (
        f"Analytics' rate limit: 429s from {throttled[0]} publishers; share the report."
        if throttled
        else f"Nothing up to {sizes[-1]} publishers."
    )
    return Answer("growth", question, text, measured=True, verdict=verdict)


def _cloud_service(f: _Finder) -> Answer:
    question = "And on AEM as a Cloud Service?"
    rows = f.find(lambda r: r.token_calls_per_start is not None)
    if not rows:
        return _missing("cloud", question, "autoscale run")
    by: dict[str, list[Row]] = {}
    for r in rows:
        by.setdefault(r.design, []).append(r)
    parts = ", ".join(
        f"{design} {mean(r.token_calls_per_start or 0 for r in runs):.2f}"
        for design, runs in by.items()
    )
    errors = sum(r.user_errors for r in rows)
    requests = sum(r.requests for r in rows)
    text = (
        "The publish tier scales out and in on its own and every new or recycled instance "
        "starts with an empty disk (docs/aem-cloud-service.md). Token calls per instance "
        f"start: {parts} ({f.link(rows[0], 'autoscale')}); {errors:,} user errors in "
        f"{requests:,} requests. Per-node pays one token call per new instance, which is "
        "harmless; a shared or replicated token saves it at the price of a store or a "
        "replication path. The CDN in front has no configurable stickiness, so whatever is "
        "chosen must work without it: per-node does (the sticky-sessions answer)."
    )
    own = by.get("per-node", [])
    verdict = (
        f"Per-node works: {mean(r.token_calls_per_start or 0 for r in own):.2f} token calls "
        f"per new instance, {sum(r.user_errors for r in own):,} errors."
        if own
        else "See the autoscale runs."
    )
    return Answer("cloud", question, text, measured=True, verdict=verdict)
