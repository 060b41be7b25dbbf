"""Publishers on hosts of their own (network namespaces): a partition, not only a crash.

These need root (CAP_NET_ADMIN) to make namespaces; where that is refused they are skipped,
and the mode itself says so and exits (checked below without needing the privilege).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.hosts import HostPlan, HostsUnavailable, NetworkHosts
from harness.load import LoadOptions, run_scenario
from harness.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def namespaces_allowed() -> bool:
    probe = NetworkHosts(HostPlan.for_this_run(), ["probe"])
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
    plan = HostPlan.for_this_run()
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


@needs_namespaces
@pytest.mark.timeout(120)
async def test_a_partition_costs_a_per_node_design_its_token_and_not_a_shared_one(
    tmp_path: Path,
) -> None:
    seen = {}
    for strategy in ("per-node", "shared"):
        options = LoadOptions(
            users=10, lifetime=4, out=tmp_path, free_ports=True, strategy=strategy, hosts=True
        )
        verdict = await run_scenario(ROOT / "topology.yaml", SCENARIOS["partition"], options)
        assert verdict.passed, verdict.text()
        seen[strategy] = verdict.data.measured
    # Cut off for 1.6 lifetimes, a node with its own token loses it and serves old pages...
    assert seen["per-node"]["p2 token valid at heal"] == 0.0
    assert seen["per-node"]["p2 stale reports while cut off"] > 0
    # ...while with the cluster's token in a shared store, another node refreshes for it.
    assert seen["shared"]["p2 token valid at heal"] == 1.0


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
