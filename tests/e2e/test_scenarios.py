"""A smoke run of every load scenario: the estate as processes, Locust as a process, the fault
timeline and the invariants, at a small scale (10 users, 4 s tokens)."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from harness.designs import parse_designs
from harness.errors import NotOurEstate
from harness.estate.control import EstateControl
from harness.load.compare import compare
from harness.load.derive import derive_topology
from harness.load.facts import StepKind
from harness.load.run import run_scenario
from harness.load.scenarios import SCENARIOS, WATCHED, Scenario, Step
from lb.cdn.main import find_varnishd
from lb.main import find_haproxy
from tests.support.topologies import load_options, shipped, without_analytics_latency

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(n for n, s in SCENARIOS.items() if not s.needs_hosts))
async def test_scenario_invariants_hold(name: str, tmp_path: Path) -> None:
    options = load_options(users=10, lifetime=4, out=tmp_path, free_ports=True)
    verdict = await run_scenario(shipped(), SCENARIOS[name], options)
    assert verdict.all_held, verdict.text()
    folder = verdict.folder
    for artefact in (
        "locust_stats.csv",
        "locust.html",
        "ims.json",
        "analytics.json",
        "lb.json",
        "nodes.json",
        "results.json",
        "verdict.txt",
        "topology.yaml",
    ):
        assert (folder / artefact).exists(), artefact
    assert_no_secrets_in(folder)


# What must never travel with a report: keyrings, key files, sealed tokens, the sim's keys.
SECRET_FILES = re.compile(r"keyring|\.key$|\.pem$|\.token$|\.sealed$|ims-keys|lease")


def assert_no_secrets_in(folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files, folder
    assert [p.name for p in files if SECRET_FILES.search(p.name)] == []
    assert not (folder / "state").exists()


@pytest.mark.timeout(120)
async def test_a_broken_node_fails_the_matching_scenario(tmp_path: Path) -> None:
    """Nodes without single-flight or proactive refresh (the naive strategy) stampede IMS at
    every expiry when requests need the token: the expiry-storm scenario must catch it. So
    the report is fetched on every page load here (with Adobe's cadence only the node's own
    refresher needs a token, and there is nothing to stampede), and Analytics' rate limit is
    off: with it, a naive node is throttled within seconds and then serves its last report for
    the backoff, asking for no token at all; the stampede is what is judged."""
    topology = shipped()
    sim = topology.simulation
    unlimited = sim.analytics.evolve(rate_limit=sim.analytics.rate_limit.evolve(enabled=False))
    base = topology.evolve(
        simulation=sim.evolve(analytics=unlimited),
        analytics=topology.analytics.evolve(report_refresh=0.0),
    )
    options = load_options(
        users=20, lifetime=4, out=tmp_path / "runs", free_ports=True, design="naive"
    )
    verdict = await run_scenario(base, SCENARIOS["expiry-storm"], options)
    failed = {c.name for c in verdict.checks if not c.held}
    assert "one token call at a time per node" in failed, verdict.text()


@pytest.mark.timeout(180)
async def test_compare_writes_the_report_and_shows_per_node_costs_n_times_shared(
    tmp_path: Path,
) -> None:
    options = load_options(users=10, lifetime=4, out=tmp_path, free_ports=True)
    folder, runs = await compare(
        shipped(),
        designs=parse_designs("per-node,shared,scheduled@1.5"),
        sticky_modes=[True],
        scenarios=["steady"],
        options=options,
    )
    by_strategy = {r.row.design.label: r.row for r in runs}
    per_node, shared = by_strategy["per-node"], by_strategy["shared"]
    assert per_node.user_errors == shared.user_errors == 0
    assert per_node.token_calls >= 2 * shared.token_calls  # three nodes: about 3x
    assert shared.peak_concurrent_token_calls == 1
    # A schedule longer than the lifetime: the cluster keeps the expired token, Analytics
    # refuses it, and the report says so.
    late = by_strategy["scheduled@1.5"]
    assert late.analytics_401s > 0
    assert late.checks_held < late.invariants
    for artefact in (
        "report.md",
        "report.html",
        "results.csv",
        "results.json",
        "steady-per-node.png",
        "steady-scheduled-1-5.png",
        "steady-latency.png",
    ):
        assert (folder / artefact).stat().st_size > 0, artefact
    assert "data:image/png;base64," in (folder / "report.html").read_text()
    # Each run traced over time: the sawtooth of every node, and the late schedule's 401s.
    traces = {r.row.design.label: r.trace for r in runs if r.trace is not None}
    assert set(traces) == {"per-node", "shared", "scheduled@1.5"}
    sawtooth = traces["per-node"].token_left["p1"]
    assert sum(1 for a, b in itertools.pairwise(sawtooth) if a and b and b > a + 1) >= 2
    assert sum(traces["scheduled@1.5"].refused_401) == late.analytics_401s
    assert "scheduled@1.5" in (folder / "report.md").read_text()


@pytest.mark.timeout(120)
async def test_a_scenario_runs_against_an_estate_already_running(tmp_path: Path) -> None:
    topology, path = derive_topology(
        shipped(),
        tmp_path,
        load_options(lifetime=4, free_ports=True),
        state=tmp_path / "state",
    )
    estate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harness",
        "--topology",
        str(path),
        "up",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert estate.stdout is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        said = []
        async with asyncio.timeout(60):
            while b"all services healthy" not in (line := await estate.stdout.readline()):
                said.append(line.decode(errors="replace"))
                # At EOF readline returns at once, without yielding: without this the loop
                # spins and the timeout above never gets a chance to fire.
                assert line, "the estate exited before it was healthy:\n" + "".join(said)
        drain = asyncio.create_task(estate.stdout.read())
        options = load_options(users=10, out=tmp_path / "reports", running=True)
        verdict = await run_scenario(topology, SCENARIOS["steady"], options)
        assert verdict.all_held, verdict.text()
        assert verdict.data.lifetime == 4  # the running estate's own lifetime
        assert "already running" in verdict.text()
        with pytest.raises(NotOurEstate, match="publisher-loss kills and restarts"):
            await run_scenario(topology, SCENARIOS["publisher-loss"], options)
    finally:
        if estate.returncode is None:
            estate.send_signal(signal.SIGTERM)
        await asyncio.wait_for(estate.wait(), 30)
        if drain is not None:
            await drain
    assert estate.returncode == 0


@pytest.mark.timeout(150)
async def test_the_same_scenario_gives_the_same_verdicts_behind_haproxy(tmp_path: Path) -> None:
    """The estate behind a real haproxy (lb.engine: haproxy, the configuration of
    ``python -m lb --emit haproxy``) and behind the built-in balancer: same invariants, same
    verdicts, for the scenario where the balancer matters most (a publisher dies)."""
    if find_haproxy() is None:
        if os.environ.get("TOKENSIM_REQUIRE_HAPROXY"):
            pytest.fail("haproxy is not installed (apt-get install haproxy)")
        pytest.skip("haproxy is not installed")
    verdicts = {}
    for engine in ("builtin", "haproxy"):
        options = load_options(
            users=10, lifetime=4, out=tmp_path / engine, free_ports=True, lb_engine=engine
        )
        verdicts[engine] = await run_scenario(shipped(), SCENARIOS["publisher-loss"], options)
    assert verdicts["haproxy"].all_held, verdicts["haproxy"].text()
    assert [(c.name, c.held) for c in verdicts["haproxy"].checks] == [
        (c.name, c.held) for c in verdicts["builtin"].checks
    ]
    log = (verdicts["haproxy"].folder / "estate.log").read_text()
    assert "lb: running haproxy with" in log  # it really was haproxy in front
    assert_no_secrets_in(verdicts["haproxy"].folder)


def test_a_run_keeps_every_publisher_it_may_have_within_analytics_budget(tmp_path: Path) -> None:
    """A load run is about the token, not about throttling: the report cache is long enough
    for all the publishers the run may have at once (autoscale: twice the estate) to stay
    within Analytics' 12 calls per 6 s."""
    scenario = SCENARIOS["autoscale"]
    topology, _ = derive_topology(
        shipped(),
        tmp_path,
        load_options(lifetime=4, free_ports=True),
        tmp_path / "state",
        extra_publishers=scenario.extra_publishers,
    )
    limit = topology.simulation.analytics.rate_limit
    calls_per_second = len(topology.publishers) / topology.analytics.report_refresh
    assert len(topology.publishers) == 6
    assert calls_per_second <= limit.requests / limit.per


@pytest.mark.timeout(120)
async def test_a_service_that_dies_unasked_fails_the_verdict(tmp_path: Path) -> None:
    async def crash_d3(control: EstateControl) -> None:  # not through the supervisor
        os.kill(control.supervisor.pids["d3"], signal.SIGKILL)

    scenario = Scenario(
        "d3-dies",
        "a dispatcher is killed from outside",
        lifetimes=1.5,
        timeline=(Step(0.3, StepKind.KILL, crash_d3, ("d3",), note="from outside"),),
        invariants=(WATCHED,),
    )
    options = load_options(users=5, lifetime=3, out=tmp_path, free_ports=True)
    verdict = await run_scenario(shipped(), scenario, options)
    ((name, passed, measured),) = [(c.name, c.held, c.measured) for c in verdict.checks]
    assert name == "no service exited unasked"
    assert not passed
    assert measured.startswith("d3 exited (killed by SIGKILL); its last line: ")
    assert "d3 exited (killed by SIGKILL)" in (verdict.folder / "estate.log").read_text()


@pytest.mark.timeout(240)
async def test_what_aem_teams_run_today_on_real_processes(tmp_path: Path) -> None:
    """AEM's own IMS integration (aem-ims), a scheduler on every publisher (hourly) and the
    report published from the author (author-report), each on a fresh estate: the first holds
    every check with a token call per lifetime or so per node; the second calls 24 times a
    lifetime per node, and the check on token calls says so; the third holds every check
    with the author's calls alone."""
    options = load_options(users=10, lifetime=4, out=tmp_path, free_ports=True)
    _, runs = await compare(
        shipped(),
        designs=parse_designs("aem-ims,hourly,author-report"),
        sticky_modes=[True],
        scenarios=["expiry-storm"],
        options=options,
    )
    rows = {r.row.design.label: r.row for r in runs}
    aem, hourly = rows["aem-ims"], rows["hourly"]
    assert aem.user_errors == hourly.user_errors == 0
    assert aem.all_held, [c for c in aem.checks if not c.held]
    assert aem.peak_concurrent_token_calls <= 3  # one at a time per node
    lifetimes = (hourly.horizon_s or 0) / 4
    assert hourly.token_calls >= 3 * 24 * lifetimes * 0.7  # 24 a lifetime per node
    assert hourly.token_calls > 5 * aem.token_calls
    failed = {c.name for c in hourly.checks if not c.held}
    assert failed == {"token calls near the minimum"}
    # The report published from the author: publishers make no token call at all.
    author = rows["author-report"]
    assert author.all_held, [c for c in author.checks if not c.held]
    assert author.token_calls_per_node.startswith("author:")
    assert author.user_errors == 0


@pytest.mark.timeout(240)
async def test_the_widget_cached_at_the_edge_keeps_analytics_flat(tmp_path: Path) -> None:
    """edge-cached: Varnish in front of the balancer keeps the widget's data for its max-age,
    so Analytics sees about one call per max-age for the whole site, where every per-node
    publisher makes its own; visitors' sessions are untouched (the shared copy is no move).
    Analytics answers at once here: with its seconds-long latency a 16 s run makes about ten
    calls per design, and which of two such counts is twice the other is chance (a busy
    machine gave 6 against 10)."""
    if find_varnishd() is None:
        if os.environ.get("TOKENSIM_REQUIRE_VARNISH"):
            pytest.fail("varnishd is not installed (apt-get install varnish)")
        pytest.skip("varnishd is not installed")
    options = load_options(users=20, lifetime=4, out=tmp_path, free_ports=True)
    _, runs = await compare(
        without_analytics_latency(shipped()),
        designs=parse_designs("edge-cached,per-node"),
        sticky_modes=[True],
        scenarios=["steady"],
        options=options,
    )
    rows = {r.row.design.label: r.row for r in runs}
    edge, own = rows["edge-cached"], rows["per-node"]
    assert edge.all_held, [c for c in edge.checks if not c.held]
    assert edge.user_errors == 0
    assert (edge.analytics_calls or 0) * 2 <= (own.analytics_calls or 0)
