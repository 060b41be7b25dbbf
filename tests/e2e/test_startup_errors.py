"""A service that cannot start as it is set up says why in one line and exits 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tokensim_token import Keyring

from tests.support.topologies import ROOT, VALID, write


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("node", ["--id", "p1"]),
        ("upstream.ims", []),
        ("upstream.analytics", []),
        ("harness", ["up"]),
    ],
)
def test_every_service_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, module: str, extra: list[str]
) -> None:
    path = write(tmp_path, VALID.replace("{id: p2, port: 8102}", "{id: p2, port: 8101}"))
    result = run_module(module, "--topology", str(path), *extra, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "publishers[1].port: port 8101 is used twice" in lines[0]


def test_node_with_an_unknown_id_or_no_secret_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    unknown = run_module(
        "node", "--topology", str(path), "--id", "p9", env={"S": "x"}, cwd=tmp_path
    )
    assert unknown.returncode == 2
    assert "no publisher 'p9' in the topology (known: p1, p2)" in unknown.stderr
    no_secret = run_module("node", "--topology", str(path), "--id", "p1", cwd=tmp_path)
    assert no_secret.returncode == 2
    assert "ims.client_secret_env: none of the environment variables S is set" in no_secret.stderr
    assert "Traceback" not in unknown.stderr + no_secret.stderr


def test_node_with_a_broken_keyring_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    (tmp_path / ".state").mkdir()
    (tmp_path / ".state" / "keyring.json").write_text(
        '{"primary": "k1", "keys": {"k1": "c2hvcnQ="}}'
    )
    (tmp_path / ".state" / "keyring.json").chmod(0o600)
    result = run_module("node", "--topology", str(path), "--id", "p1", env={"S": "x"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "key 'k1' is 5 bytes, expected 32" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_configured_key_file_that_is_missing_or_open_to_others_stops_the_node(
    tmp_path: Path,
) -> None:
    keyring = tmp_path / "keys" / "cluster-keyring.json"
    path = write(tmp_path, VALID + f"token:\n  key_file: {keyring}\n")
    missing = run_module(
        "node", "--topology", str(path), "--id", "p1", env={"S": "x"}, cwd=tmp_path
    )
    assert missing.returncode == 2
    assert f"{keyring}: key file not found" in missing.stderr
    assert not keyring.exists()  # never generated in its place: the cluster's key is elsewhere
    keyring.parent.mkdir()
    keyring.write_text(Keyring.generate().to_json().decode())
    keyring.chmod(0o640)
    too_open = run_module(
        "node", "--topology", str(path), "--id", "p1", env={"S": "x"}, cwd=tmp_path
    )
    assert too_open.returncode == 2
    assert f"{keyring}: key file mode 0640 lets other users read it; chmod 600" in too_open.stderr
    assert "Traceback" not in missing.stderr + too_open.stderr


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSIM_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=environ,
        cwd=ROOT,
        check=False,
    )
