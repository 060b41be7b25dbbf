"""The HAProxy equivalent of topology.yaml: `python -m lb --emit haproxy`, checked by haproxy -c."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.topology import LbConfig, load_topology
from lb.haproxy_config import render
from lb.main import find_haproxy
from lb.targets import Backend


@pytest.mark.skipif(find_haproxy() is None, reason="haproxy is not installed")
def test_the_haproxy_equivalent_is_a_valid_configuration(tmp_path: Path) -> None:
    config = LbConfig(port=18080)
    text = render(
        config, [Backend("d1", "127.0.0.1", 18201, "p1"), Backend("d2", "127.0.0.1", 18202, "p2")]
    )
    assert "cookie AWSALB insert indirect nocache httponly" in text
    assert "option redispatch" in text
    assert "default-server inter 30000ms fall 2 rise 5" in text
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    result = subprocess.run(
        [str(find_haproxy()), "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_emit_haproxy_prints_the_configuration_for_topology_yaml(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lb",
            "--topology",
            str(root / "topology.yaml"),
            "--emit",
            "haproxy",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    text = done.stdout
    for dispatcher in load_topology(root / "topology.yaml").dispatchers:
        assert f"server {dispatcher.id} {dispatcher.host}:{dispatcher.port} check" in text
    assert "option forwardfor" in text  # the dispatchers tell LB traffic from direct callers
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    if (haproxy := find_haproxy()) is None:
        pytest.skip("haproxy is not installed: the configuration is printed, not checked")
    result = subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
