"""Publishers on hosts of their own (network namespaces): a partition, not only a crash.

These need root (CAP_NET_ADMIN) to make namespaces; where that is refused they are skipped,
and the mode itself says so and exits (checked below without needing the privilege).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.topology import load_topology
from harness.errors import HostsUnavailable
from harness.estate.hosts import TAG, HostPlan, NetworkHosts, ours_listed
from harness.load.options import LoadOptions
from harness.load.run import run_scenario
from harness.load.scenarios import SCENARIOS
from tests.support.topologies import load_options, shipped

ROOT = Path(__file__).resolve().parents[2]


def namespaces_allowed() -> bool:
    probe = NetworkHosts(HostPlan.new(), ["probe"])
    try:
        probe.create()
    except HostsUnavailable:
        return False
    finally:
        probe.remove()
    return True


needs_namespaces = pytest.mark.skipif(
    not namespaces_allowed(), reason="network namespaces cannot be made here (needs root)"
)


@needs_namespaces
def test_hosts_are_made_and_removed_and_a_cut_drops_packets() -> None:
    plan = HostPlan.new()
    hosts = NetworkHosts(plan, ["p1"])
    hosts.create()
    try:
        reach = [*hosts.prefix("p1"), "ip", "route", "get", plan.ims]
        assert subprocess.run(reach, capture_output=True, check=False).returncode == 0
        hosts.partition("p1", plan.ims)
        cut = subprocess.run(reach, capture_output=True, text=True, check=False)
        assert cut.returncode != 0  # the blackhole route: nothing leaves for IMS
        hosts.heal("p1", plan.ims)
        assert subprocess.run(reach, capture_output=True, check=False).returncode == 0
    finally:
        hosts.remove()
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert plan.namespace("p1") not in names.stdout
    links = subprocess.run(["ip", "link"], capture_output=True, text=True, check=True)
    assert plan.tag not in links.stdout  # the outside end of the veth pair went too


def test_every_run_gets_names_of_its_own() -> None:
    plans = [HostPlan.new() for _ in range(50)]
    assert len({p.tag for p in plans}) == 50
    for plan in plans:
        assert all(len(name) <= 15 for name in (plan.bridge, *plan.veth(99)))  # IFNAMSIZ - 1
        assert tags_of([plan.bridge, *plan.veth(0), *plan.veth(12), plan.namespace("p1")]) == [
            plan.tag
        ]
    # What runs before 8-digit tags left behind is still recognised as theirs, and only theirs.
    assert tags_of(["ts1a2b3br", "ts1a2b30a", "ts1a2b399b", "ts1a2b3-p2"]) == ["ts1a2b3"]


def tags_of(names: list[str]) -> list[str]:
    """The tags ``names`` carry, as the sweep reads them (every name must carry one)."""
    found = [TAG.match(name) for name in names]
    assert all(found), names
    return sorted({m.group(1) for m in found if m is not None})


CRASHING_RUN = textwrap.dedent(
    """
    import os, signal
    from harness.estate.hosts import HostPlan, NetworkHosts
    hosts = NetworkHosts(HostPlan.new(), ["p1", "p2"])
    hosts.create()
    print(hosts.plan.tag, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # a harness killed before it could clean up
    """
)


def crash_a_hosts_run() -> str:
    """Make hosts in a process that is then killed with SIGKILL; the tag it left behind."""
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert crashed.returncode == -9, crashed.stderr
    return crashed.stdout.strip()


def ip_link() -> str:
    return subprocess.run(["ip", "link"], capture_output=True, text=True, check=True).stdout


@needs_namespaces
@pytest.mark.timeout(180)
async def test_hosts_runs_back_to_back_and_after_a_crash_leave_nothing_behind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def run(n: int) -> LoadOptions:
        return load_options(users=4, lifetime=2, out=tmp_path / str(n), free_ports=True, hosts=True)

    for n in (1, 2):  # one process, two runs: the second must not trip over the first
        verdict = await run_scenario(shipped(), SCENARIOS["steady"], run(n))
        assert verdict.all_held, verdict.text()
        assert ours_listed() == ([], [])
    tag = crash_a_hosts_run()
    links, spaces = ours_listed()
    assert {f"{tag}br", f"{tag}0a", f"{tag}1a"} <= set(links)  # left behind on purpose
    assert {f"{tag}-p1", f"{tag}-p2"} <= set(spaces)
    with caplog.at_level(logging.WARNING, logger="harness.estate.hosts"):
        verdict = await run_scenario(shipped(), SCENARIOS["steady"], run(3))
    assert verdict.all_held, verdict.text()
    said = [r.getMessage() for r in caplog.records if r.name == "harness.estate.hosts"]
    assert said == [
        f"removed what 1 earlier --hosts run(s) left behind ({tag}): 3 link(s), 2 namespace(s)"
    ]
    assert ours_listed() == ([], [])
    assert tag not in ip_link()


@needs_namespaces
@pytest.mark.timeout(180)
async def test_a_partition_costs_a_per_node_design_its_token_and_not_a_shared_one(
    tmp_path: Path,
) -> None:
    """Per-node and shared with the file store (a shared volume), then shared with a real
    redis-server on the bridge: the same verdicts as with the file."""
    seen, verdicts, folders = {}, {}, {}
    runs = [("per-node", "file"), ("shared", "file")]
    if shutil.which("redis-server") is not None or os.environ.get("TOKENSIM_REQUIRE_REDIS"):
        runs.append(("shared", "redis"))
    for strategy, store in runs:
        options = load_options(
            users=10,
            lifetime=4,
            out=tmp_path,
            free_ports=True,
            design=strategy,
            hosts=True,
            store=store,
        )
        verdict = await run_scenario(shipped(), SCENARIOS["partition"], options)
        assert verdict.all_held, verdict.text()
        seen[strategy, store] = verdict.data.measured
        verdicts[strategy, store] = [(c.name, c.held) for c in verdict.checks]
        folders[strategy, store] = verdict.folder
    # Cut off for 2.2 lifetimes, a node with its own token loses it: its token calls fail...
    cut = {key: measured.partition for key, measured in seen.items()}
    per_node, shared = cut["per-node", "file"], cut["shared", "file"]
    assert per_node is not None
    assert per_node.node == "p2"
    assert per_node.token_valid_at_heal is False
    assert (per_node.failed_during or 0) > 0
    # (Whether p2 also served reports marked stale depends on Analytics' latency, not on the
    # token: a report call sent with the last token before it expired can take seconds and
    # answer after the cut, so that no refresh fails inside it. Seen once in about ten runs:
    # {ok: 4} and nothing else. The count is reported, not asserted.)
    # ...while with the cluster's token in a shared store, another node refreshes for it.
    assert shared is not None
    assert shared.token_valid_at_heal is True
    if ("shared", "redis") in seen:
        redis = cut["shared", "redis"]
        assert redis is not None
        assert redis.token_valid_at_heal is True
        assert verdicts["shared", "redis"] == verdicts["shared", "file"]
        redis_run = load_topology(folders["shared", "redis"] / "topology.yaml")
        assert redis_run.token.store.kind == "redis"


@needs_namespaces
@pytest.mark.timeout(120)
async def test_locust_workers_on_the_hosts_reach_the_master_over_the_bridge(
    tmp_path: Path,
) -> None:
    options = load_options(
        users=8, lifetime=3, out=tmp_path, free_ports=True, hosts=True, workers=2
    )
    verdict = await run_scenario(shipped(), SCENARIOS["steady"], options)
    assert verdict.all_held, verdict.text()
    assert verdict.data.locust.workers == 2
    assert verdict.data.locust.worker_exits == []
    assert verdict.data.locust.requests > 20
    # The balancer's public listener is on the bridge (where the hosts reach it), its
    # control plane on loopback; the publishers counted requests from both hosts' workers.
    topology = load_topology(verdict.folder / "topology.yaml")
    assert topology.lb is not None
    assert topology.lb.host.startswith("10.213.")
    assert topology.lb.admin.host == "127.0.0.1"
    assert ours_listed() == ([], [])


def test_the_partition_scenario_says_it_needs_hosts(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "load",
            "--scenario",
            "partition",
            "--free-ports",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "partition cuts a host off the network: run it with --hosts" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_the_privilege_the_hosts_mode_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    # A user namespace of our own: the same machine, without CAP_NET_ADMIN on its network.
    if subprocess.run(["unshare", "-U", "true"], capture_output=True, check=False).returncode:
        pytest.skip("cannot make a user namespace here to drop the privilege")
    before = subprocess.run(["ip", "link"], capture_output=True, text=True, check=False).stdout
    done = subprocess.run(
        ["unshare", "-U", sys.executable, "-m", "harness", "up", "--hosts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "--hosts needs to create network namespaces (root or CAP_NET_ADMIN)" in done.stderr
    assert "Traceback" not in done.stderr
    after = subprocess.run(["ip", "link"], capture_output=True, text=True, check=False).stdout
    assert after == before
