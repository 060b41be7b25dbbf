"""A smoke run of every load scenario: the estate as processes, Locust as a process, the fault
timeline and the invariants, at a small scale (10 users, 4 s tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load import LoadOptions, run_scenario
from harness.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_invariants_hold(name: str, tmp_path: Path) -> None:
    options = LoadOptions(users=10, lifetime=4, out=tmp_path, free_ports=True)
    verdict = await run_scenario(ROOT / "topology.yaml", SCENARIOS[name], options)
    assert verdict.passed, verdict.text()
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
