"""The report as a document: answers drawn from the runs (and saying so when a run is
missing), tables without the columns that do not apply, Markdown rendered by a library."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.designs import Design
from harness.report import build, figures
from harness.report.answers import answers
from harness.report.model import Report, Section
from harness.report.render import render_markdown, write_report
from harness.report.tables import glossary, markdown, tables
from harness.results import Check, Fault, Row, Run, Trace, World


def row(design: str, **changes: object) -> Row:
    base = Row(
        design=Design.parse(design),
        world=World.VIRTUAL,
        scenario="faults",
        publishers=3,
        sticky=None,
        checks=(Check("no user-visible errors", True, "0 errors"),),
        requests=1000,
        user_errors=0,
        stale_responses=10,
        token_calls=42,
        token_calls_per_node="p1:14 p2:14 p3:14",
        peak_concurrent_token_calls=3,
        analytics_401s=3,
        p50_ms=0.0,
        p95_ms=200.0,
        p99_ms=200.0,
        analytics_calls=100,
        analytics_peak_per_minute=39,
        analytics_429s=0,
        token_calls_on_restart=0.0,
        horizon_s=7 * 86_400.0,
        lifetime_s=86_399.0,
    )
    if changes.get("sticky") is not None:  # a balancer: a run on real processes
        changes["world"] = World.REAL
    return replace(base, **changes)  # type: ignore[arg-type]


def trace(design: str) -> Trace:
    return Trace(
        design=design,
        horizon=3600.0,
        lifetime=600.0,
        times=(600.0, 1200.0, 1800.0, 2400.0, 3000.0, 3600.0),
        token_left={"p1": (300.0, 600.0, 300.0, None, 500.0, 200.0)},
        nodes_total=3,
        token_calls={"p1": (0.0, 700.0, 2600.0)},
        analytics_per_minute=(36.0, 36.0, 150.0, 0.0, 36.0, 36.0),
        analytics_window=600.0,
        limit_per_minute=120.0,
        refused_401=(0.0, 0.0, 0.0, 3.0, 0.0, 0.0),
        refused_429=(0.0, 0.0, 30.0, 0.0, 0.0, 0.0),
        stale=(0.0, 0.0, 12.0, 40.0, 0.0, 0.0),
        errors=(0.0,) * 6,
        faults=(Fault(1500.0, 2000.0, "IMS outage"), Fault(2400.0, 2400.0, "IMS revokes")),
        latency_ecdf=((0.0, 0.9), (200.0, 0.99), (900.0, 1.0)),
    )


def section(anchor: str, rows: list[Row]) -> Section:
    return Section(anchor, anchor, "", tuple(Run(r) for r in rows))


def full_sections() -> list[Section]:
    real = [
        row("per-node", scenario="expiry-storm", sticky=True, token_leaks=0, session_moves=0),
        row("per-node", scenario="expiry-storm", sticky=False, token_leaks=0, session_moves=90),
    ]
    week = [
        row("per-node"),
        row("shared", token_calls=14, peak_concurrent_token_calls=1),
        row(
            "scheduled@1.25",
            token_calls=6,
            peak_concurrent_token_calls=1,
            analytics_401s=10_818,
            stale_responses=151_212,
        ),
        row("naive", token_calls=84, peak_concurrent_token_calls=12, token_calls_on_restart=1.0),
    ]
    sizes = [
        row(
            "per-node",
            scenario="steady",
            publishers=n,
            report_refresh_s=1800.0,
            analytics_calls_per_hour=2.0 * n,
            analytics_peak_per_minute=n,
            analytics_429s=0,
            report_age_p99_s=1790.0 + n,
        )
        for n in (3, 10, 50)
    ] + [
        row(
            "per-node+shared-report",
            scenario="steady",
            publishers=50,
            report_refresh_s=1800.0,
            analytics_calls_per_hour=2.0,
        )
    ]
    page_load = [
        row(
            "per-node",
            scenario="steady",
            publishers=n,
            report_refresh_s=0.0,
            analytics_peak_per_minute=12 * n + 3,
            analytics_429s=0 if n == 3 else 50 * n,
            user_errors=0 if n == 3 else 7 * n,
        )
        for n in (3, 10, 50)
    ]
    autoscale = [
        row("per-node", scenario="autoscale", token_calls_per_start=1.0),
        row("shared", scenario="autoscale", token_calls_per_start=0.0),
    ]
    return [
        section("real", real),
        section("week", week),
        section("sizes", sizes),
        section("page-load", page_load),
        section("autoscale", autoscale),
    ]


def test_every_answer_carries_this_runs_numbers_and_links_to_them() -> None:
    found = {a.anchor: a for a in answers(full_sections())}
    assert list(found) == ["where", "refresh", "sticky", "designs", "growth", "cloud"]
    assert all(a.measured for a in found.values())
    assert "0 of 2,000 responses" in found["where"].text
    assert "2.0 per lifetime" in found["refresh"].text
    assert "moved between publishers 90 times" in found["sticky"].text
    assert "Not for the token" in found["sticky"].text
    assert "| scheduled@1.25 | 6 | 1 | 10,818 |" in found["designs"].text
    assert "a store and one key on every node" in found["designs"].text
    growth = found["growth"]
    assert growth.verdict == (
        "Nothing up to 50 publishers with a report every 30m; a report per page load hits "
        "Analytics' rate limit from 10."
    )
    assert "Analytics got 6.0 at 3 publishers, 20.0 at 10, 100.0 at 50 calls an hour" in (
        growth.text
    )
    assert "budget of 7,200 an hour" in growth.text
    assert "brought 50 publishers to 2 calls an hour" in growth.text
    assert "peaks of 39 at 3 publishers, 123 at 10, 603 at 50 calls a minute" in growth.text
    assert "user errors: 0 at 3 publishers, 70 at 10, 350 at 50" in growth.text
    assert "](#page-load)" in growth.text
    assert "per-node 1.00, shared 0.00" in found["cloud"].text
    assert "](#sizes)" in found["growth"].text
    assert "](#week)" in found["designs"].text


def test_an_answer_whose_runs_are_missing_says_so() -> None:
    week_only = [s for s in full_sections() if s.anchor == "week"]
    found = {a.anchor: a for a in answers(week_only)}
    for anchor in ("sticky", "growth", "cloud"):
        assert not found[anchor].measured
        assert found[anchor].text.startswith("Not measured in this report"), anchor
    assert found["designs"].measured


def test_stickiness_that_made_a_difference_is_not_called_harmless() -> None:
    sections = full_sections()
    real = sections[0]
    broken = replace(real.runs[1].row, user_errors=40)
    sections[0] = replace(real, runs=(real.runs[0], Run(broken)))
    sticky = next(a for a in answers(sections) if a.anchor == "sticky")
    assert "it mattered" in sticky.text
    assert "Not for the token" not in sticky.text


def test_tables_leave_out_what_does_not_apply_and_say_once_what_is_the_same() -> None:
    virtual = tables([row("per-node"), row("shared")])
    names = {c.name for t in virtual for c in t.columns}
    assert "sticky" not in names  # no balancer in the virtual world
    assert "publishers" not in names  # the same for every run: said once
    assert "scenario" not in names
    assert "served in IMS outage" not in names  # no run measured it
    assert "calls on restart" in names
    real = tables([row("per-node", sticky=True), row("per-node", sticky=False)])
    assert "sticky" in {c.name for t in real for c in t.columns}
    assert all(len(t.columns) <= 10 for t in virtual + real)


def test_every_row_says_what_its_design_needs_to_run() -> None:
    (needs,) = [
        t
        for t in tables([row("per-node"), row("author-report"), row("per-node+shared-report")])
        if t.title == "What it needs"
    ]
    by_design = {
        cells[0]: dict(zip((c.name for c in needs.columns), cells, strict=True))
        for cells in needs.cells
    }
    assert by_design["per-node"]["client secret on"] == "3 publishers"
    assert by_design["per-node"]["shared state"] == "none"
    assert by_design["author-report"]["client secret on"] == "the author only"
    assert "the author" in by_design["author-report"]["moving parts"]
    assert by_design["per-node+shared-report"]["moving parts"] == "the store"
    assert "|---|---|---|---|---|" in markdown(needs)  # words, aligned left


def test_the_report_renders_markdown_and_embeds_every_figure(tmp_path: Path) -> None:
    runs = [Run(row("per-node"), trace("per-node")), Run(row("shared"), trace("shared"))]
    sec = build.section(tmp_path, "week", "A week", "Reports *refresh* every **5 s**.", runs)
    report = Report("Title", "What ran.", answers([sec]), (sec,), glossary())
    page = write_report(tmp_path, report).read_text()
    assert "<em>refresh</em>" in page
    assert "<strong>5 s</strong>" in page
    assert "*refresh*" not in page
    assert page.count('src="data:image/png;base64,') == 3  # two designs and the latency
    assert '<section class="answer' in page
    markdown = render_markdown(report)
    assert "![" in markdown
    assert "week-per-node.png" in markdown
    for name in ("report.md", "results.csv", "results.json", "week-per-node.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_one_design_run_in_both_worlds_gets_a_figure_of_each(tmp_path: Path) -> None:
    """The autoscale section has per-node in virtual time and on real processes: two
    figures, two files, two anchors (the second once overwrote the first under one name)."""
    runs = [
        Run(row("per-node"), trace("per-node")),
        Run(row("per-node", sticky=True), trace("per-node")),
    ]
    sec = build.section(tmp_path, "autoscale", "Autoscale", "Out and in.", runs)
    mechanism = [f for f in sec.figures if not f.anchor.endswith("-latency")]
    assert [f.anchor for f in mechanism] == [
        "autoscale-per-node-virtual-time",
        "autoscale-per-node-real-processes",
    ]
    assert len({f.path for f in mechanism}) == 2
    assert all(f.path.stat().st_size > 0 for f in mechanism)
    assert "**per-node (real processes)**" in mechanism[1].caption


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", "a | b"])
def test_values_are_escaped_in_html_and_markdown(tmp_path: Path, hostile: str) -> None:
    # Designs are registered names; what a run reports about its nodes is free text.
    sec = section("week", [row("per-node", token_calls_per_node=hostile)])
    report = Report("T", "S", (), (sec,), "")
    page = write_report(tmp_path, report).read_text()
    assert "<script>alert" not in page
    assert "a \\| b" in render_markdown(report) or "|" not in hostile


def test_the_scaling_figure_names_each_design_by_its_label() -> None:
    """A line per design, named as the tables name it (the legend once showed the Design
    object's repr, and its width squeezed the three panels)."""
    plt = figures.pyplot()
    rows = [
        row(design, publishers=size, token_calls=size * 4)
        for design in ("per-node", "per-node+shared-report")
        for size in (3, 10, 50)
    ]
    fig = figures.scaling_figure(plt, rows, 120.0)
    try:
        legend = fig.axes[0].get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["per-node", "per-node+shared-report"]
    finally:
        plt.close(fig)


def test_the_latency_figure_tells_apart_one_design_at_several_sizes_and_worlds() -> None:
    def run(design: str, size: int, **changes: object) -> Run:
        timed = replace(trace(design), nodes_total=size, latency_ecdf=((0.0, 0.5), (9.0, 1.0)))
        return Run(row(design, publishers=size, **changes), timed)

    sizes = [run(d, n) for n in (3, 50) for d in ("per-node", "shared")]
    assert [label for label, _ in build.latency_lines(sizes)] == [
        "per-node, 3 publishers",
        "shared, 3 publishers",
        "per-node, 50 publishers",
        "shared, 50 publishers",
    ]
    autoscale = [run("per-node", 3), run("shared", 3), run("per-node", 3, sticky=True)]
    assert [label for label, _ in build.latency_lines(autoscale)] == [
        "per-node (virtual time)",
        "shared",
        "per-node (real processes)",
    ]
    sticky = [run("per-node", 3, sticky=True), run("per-node", 3, sticky=False)]
    assert [label for label, _ in build.latency_lines(sticky)] == [
        "per-node, stickiness on",
        "per-node, stickiness off",
    ]
    plt = figures.pyplot()
    fig = figures.latency_figure(plt, build.latency_lines(autoscale), title="autoscale")
    try:
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert texts == ["per-node (virtual time)", "shared", "per-node (real processes)"]
    finally:
        plt.close(fig)


def test_a_report_refuses_an_anchor_used_twice(tmp_path: Path) -> None:
    """The demo's stickiness section was once anchored "sticky", the sticky-sessions answer's
    own id: the answer's link to its runs landed on the answer itself."""
    runs = [Run(row("per-node", sticky=True)), Run(row("per-node", sticky=False))]
    sec = build.section(tmp_path, "sticky", "Sticky sessions", "On and off.", runs)
    with pytest.raises(ValueError, match="anchors used twice in the report: sticky"):
        Report("Title", "What ran.", answers([sec]), (sec,), glossary())
    apart = build.section(tmp_path, "stickiness", "Sticky sessions", "On and off.", runs)
    Report("Title", "What ran.", answers([apart]), (apart,), glossary())
