"""``harness compare --virtual``: the real node code over simulated days, in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.topology import load_topology
from harness.designs import Design
from harness.virtual.simulation import LIFETIME, VirtualResult, VirtualSettings, simulate

ROOT = Path(__file__).resolve().parent.parent
DAYS = 4
SETTINGS = VirtualSettings(horizon=DAYS * 86_400.0)


def run(spec: str) -> VirtualResult:
    return simulate(Design.parse(spec), SETTINGS, load_topology(ROOT / "topology.yaml"))


def test_the_designs_behave_as_each_predicts_over_days() -> None:
    per_node, shared, naive = run("per-node"), run("shared"), run("naive")
    lifetimes = SETTINGS.horizon / LIFETIME
    # Per node: a token at start, then one at about every half-life, on each of the 3 nodes.
    for calls in per_node.token_calls_per_node.values():
        assert 1 + lifetimes * 1.6 <= calls <= 2 + lifetimes * 2
    assert per_node.user_errors == shared.user_errors == 0
    assert 2.5 * shared.token_calls <= per_node.token_calls <= 3.5 * shared.token_calls
    assert shared.peak_concurrent_token_calls == 1
    # Naive: every request that finds the token expired fetches its own (the stampede), and a
    # token that expires while IMS is down leaves users with old pages until it is back.
    assert naive.peak_concurrent_token_calls > 3
    assert naive.fresh_during_ims_outage is not None
    assert per_node.fresh_during_ims_outage == 1.0
    assert naive.fresh_during_ims_outage < per_node.fresh_during_ims_outage
    # Revocation: each node's next call gets one 401, then a new token; nothing more.
    assert per_node.analytics_401s == shared.analytics_401s == 3
    assert per_node.token_calls_on_restart == 0


def test_a_schedule_longer_than_the_lifetime_shows_its_401s() -> None:
    good, late = run("scheduled"), run("scheduled@1.25")
    assert set(late.token_calls_per_node) == {"p1", "p2", "p3"}
    assert late.token_calls_per_node["p2"] == late.token_calls_per_node["p3"] == 0
    assert late.analytics_401s > 100 * good.analytics_401s / max(1, good.analytics_401s)
    assert late.stale > good.stale


def test_lost_replication_pushes_make_followers_fetch_their_own() -> None:
    clean, lossy = run("replicated"), run("replicated@1")
    assert clean.user_errors == lossy.user_errors == 0
    followers = ("p2", "p3")
    assert sum(lossy.token_calls_per_node[f] for f in followers) > sum(
        clean.token_calls_per_node[f] for f in followers
    )


def test_the_command_writes_the_report_and_rejects_a_bad_duration(tmp_path: Path) -> None:
    env = {**os.environ, "TOKENSIM_CLIENT_SECRET": "unused"}
    command = [sys.executable, "-m", "harness", "compare", "--out", str(tmp_path)]
    done = subprocess.run(
        [*command, "--virtual", "2d", "--strategies", "per-node,naive"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "| per-node |" in done.stdout
    assert "| naive |" in done.stdout
    (folder,) = tmp_path.glob("compare-virtual-*")
    for artefact in ("report.md", "report.html", "results.csv", "results.json"):
        assert (folder / artefact).stat().st_size > 0
    bad = subprocess.run(
        [*command, "--virtual", "soon"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "--virtual: expected a duration like 30s, 5m or 24h, got 'soon'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("spec", ["sticky", "naive@2", "replicated@1.5", "scheduled@x"])
def test_a_bad_design_is_refused_with_exit_2(spec: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "--virtual", "1d", "--strategies", spec],
        cwd=ROOT,
        env={**os.environ, "TOKENSIM_CLIENT_SECRET": "unused"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("python -m harness: error: --strategies:")
    assert "Traceback" not in done.stderr
