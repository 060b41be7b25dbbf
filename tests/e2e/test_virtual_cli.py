"""`python -m harness compare --virtual` from its command line: its report, exit 2 refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.topologies import ROOT


def test_the_command_writes_the_report_and_rejects_a_bad_duration(tmp_path: Path) -> None:
    env = {**os.environ, "TOKENSIM_CLIENT_SECRET": "unused"}
    command = [sys.executable, "-m", "harness", "compare", "--out", str(tmp_path)]
    done = subprocess.run(
        [*command, "--virtual", "2d", "--designs", "per-node,naive"],
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
    # progress names each design as the user wrote it
    assert "[1/2] per-node, 3 publishers, 2d faults: simulated in" in done.stdout
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


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--designs", "sticky", "unknown design 'sticky' (known: per-node, shared,"),
        ("--designs", "naive@2", "'naive@2': only replicated@<loss probability, 0..1> and"),
        ("--designs", "replicated@1.5", "'replicated@1.5': only"),
        ("--designs", "scheduled@x", "'scheduled@x': expected a number after '@'"),
        ("--sticky", "yes", "argument --sticky: expected on, off or on,off, got 'yes'"),
        ("--sticky", "on,on", "argument --sticky: expected on, off or on,off, got 'on,on'"),
    ],
)
def test_a_bad_design_or_stickiness_is_one_line_and_exit_2(
    option: str, value: str, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "--virtual", "1d", option, value],
        cwd=ROOT,
        env={**os.environ, "TOKENSIM_CLIENT_SECRET": "unused"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("python -m harness compare: error: argument "), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_old_option_names_still_work_and_say_they_are_old(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "harness", "compare", "--out", str(tmp_path)),
            *("--virtual", "1h", "--strategies", "per-node"),
        ],
        cwd=ROOT,
        env={**os.environ, "TOKENSIM_CLIENT_SECRET": "unused"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "warning: --strategies is an old name of --designs" in done.stderr
    assert "| per-node |" in done.stdout


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--publishers", "0", "--publishers: must be above 0, got 0"),
        ("--publishers", "3,-1", "--publishers: must be above 0, got -1"),
        ("--publishers", "many", "--publishers: expected a whole number, got 'many'"),
    ],
)
def test_bad_sizes_are_refused_with_one_line(flag: str, value: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "--virtual", "1d", flag, value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--no-latency", "--no-latency: only with --virtual"),
        ("--refresh=30m", "--refresh: only with --virtual"),
    ],
)
def test_virtual_only_options_are_refused_for_real_runs(flag: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", flag],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("rate_limit", "message"),
    [
        ({"requests": 0}, "simulation.analytics.rate_limit.requests: Input should be greater"),
        ({"per": "soon"}, "simulation.analytics.rate_limit.per: expected a duration"),
    ],
)
def test_a_bad_rate_limit_is_refused_naming_it(
    tmp_path: Path, rate_limit: dict[str, object], message: str
) -> None:
    data = yaml.safe_load((ROOT / "topology.yaml").read_text())
    data["simulation"]["analytics"]["rate_limit"] = rate_limit
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data))
    done = subprocess.run(
        [sys.executable, "-m", "harness", "--topology", str(path), "compare", "--virtual", "1d"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
