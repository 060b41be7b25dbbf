"""The command lines as people type them: ``--topology`` and ``--log-level`` before or after
the subcommand, in every entry point's ``--help``, and the log level reaching every service
the harness starts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import build_parser
from tests.support.processes import harness_until_healthy, write_topology

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = (
    ["up"],
    ["demo"],
    ["lifecycle"],
    ["load", "--scenario", "steady"],
    ["compare"],
)


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: c[0])
def test_common_options_before_or_after_the_subcommand(command: list[str]) -> None:
    parser = build_parser()
    after = parser.parse_args([*command, "--topology", "t.yaml", "--log-level", "debug"])
    assert (after.topology, after.log_level) == (Path("t.yaml"), "DEBUG")
    before = parser.parse_args(["--topology", "b.yaml", "--log-level", "WARNING", *command])
    assert (before.topology, before.log_level) == (Path("b.yaml"), "WARNING")
    both = parser.parse_args(["--topology", "b.yaml", *command, "--topology", "a.yaml"])
    assert both.topology == Path("a.yaml")  # the later one, as people expect
    neither = parser.parse_args(command)
    assert (neither.topology, neither.log_level) == (Path("topology.yaml"), "INFO")


@pytest.mark.parametrize(
    "argv",
    [
        ["harness", "--help"],
        ["harness", "up", "--help"],
        ["harness", "load", "--help"],
        ["node", "--help"],
        ["lb", "--help"],
        ["lb.dispatcher", "--help"],
        ["upstream.ims", "--help"],
        ["upstream.analytics", "--help"],
    ],
    ids=" ".join,
)
def test_every_help_shows_the_common_options(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--topology PATH" in done.stdout
    assert "--log-level" in done.stdout


@pytest.mark.parametrize("where", ["before", "after"])
async def test_the_log_level_reaches_every_service_the_harness_starts(
    tmp_path: Path, where: str
) -> None:
    path = write_topology(tmp_path)
    common = ["--topology", str(path), "--log-level", "DEBUG"]
    argv = [*common, "up"] if where == "before" else ["up", *common]
    proc, seen = await harness_until_healthy(*argv, "--only", "ims,analytics,p1")
    proc.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    output = seen + rest.decode()
    for service in ("ims", "analytics", "p1"):
        debug = [
            line for line in output.splitlines() if f"{service} | " in line and " DEBUG " in line
        ]
        assert any("logging at DEBUG" in line for line in debug), service
