"""`python -m harness map`: every design x size x cadence, its progress, its report and figure,
where each design flips, and one-line refusals of bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.topologies import ROOT

ENV = {**os.environ, "TOKENSIM_CLIENT_SECRET": "unused"}


def _map(tmp_path: Path, *options: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "map", "--out", str(tmp_path), *options],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.timeout(300)
def test_the_map_shows_where_a_report_per_page_load_breaks_and_sharing_holds(
    tmp_path: Path,
) -> None:
    done = _map(
        tmp_path,
        "--designs",
        "per-node,per-node+shared-report",
        "--publishers",
        "3,10",
        "--refresh",
        "page,30m",
    )
    assert done.returncode == 0, done.stderr
    assert "[8/8]" in done.stdout  # progress, cell by cell
    assert "left)" in done.stdout
    (folder,) = tmp_path.glob("map-*")
    cells = json.loads((folder / "map.json").read_text())["cells"]
    verdicts = {(c["design"], c["publishers"], c["report_refresh_s"]): c for c in cells}
    assert len(verdicts) == 8
    page_load = verdicts[("per-node", 10, 0.0)]
    assert page_load["analytics_429s"] > 0  # each publisher asks on every page view
    assert verdicts[("per-node+shared-report", 10, 0.0)]["analytics_429s"] == 0
    assert verdicts[("per-node", 10, 1800.0)]["verdict"] == "acceptable"
    assert verdicts[("per-node", 10, 1800.0)]["analytics_calls_per_hour"] < 60  # of 7,200
    assert "per-node+shared-report: acceptable in every cell, up to 10 publishers." in done.stdout
    assert "per-node: acceptable every 30m up to 10 publishers; not with a report per page" in (
        done.stdout
    )
    assert (folder / "map.png").stat().st_size > 10_000
    html = (folder / "report.html").read_text()
    assert "Where each answer flips" in html
    assert "data:image/png;base64," in html
    # each design's sentence links to its rows, and each break to the cell it comes from
    links = set(re.findall(r'href="#(map-[^"]+)"', html))
    assert {"map-per-node", "map-per-node-shared-report", "map-per-node-3-page"} <= links
    assert all(f'id="{target}"' in html for target in links)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--refresh", "soon"), "--refresh: expected a duration like 30s, 5m or 24h, got 'soon'"),
        (("--horizon", "1h"), "--horizon: at least 1d"),
        (("--refresh", "-1s"), "--refresh: expected a duration like 30s, 5m or 24h, got '-1s'"),
        (("--publishers", "0"), "--publishers:"),
        (("--publishers", "-1,3"), "--publishers:"),
        (("--designs", "sharded"), "unknown design 'sharded' (known: per-node, shared,"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    done = _map(tmp_path, *options, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(120)
def test_a_map_longer_than_its_limit_says_so_before_it_starts(tmp_path: Path) -> None:
    # One cell with a report on every page load: about 84,000 calls, estimated at 1.8 s.
    done = _map(
        tmp_path,
        "--designs",
        "per-node",
        "--publishers",
        "3",
        "--refresh",
        "page",
        "--max-seconds",
        "1",
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    first, second, progress = done.stdout.splitlines()[:3]
    assert first.startswith("map: 1 cells (1 designs x 1 sizes x 1 cadences), two at a time")
    assert second.startswith("map: that is more than --max-seconds 1: cells not started by then")
    assert progress.startswith("  [1/1] per-node, 3 publishers")
