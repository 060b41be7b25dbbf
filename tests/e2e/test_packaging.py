"""What a deployment of the node needs: the services' dependencies only, pinned in the lock."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS_ONLY = ("locust", "matplotlib", "looptime", "gevent", "jinja2", "markdown", "playwright")
SERVICES = (
    "node.token",
    "node.token.strategies",
    "node.app",
    "node.main",
    "lb.main",
    "lb.dispatcher.main",
    "upstream.ims.main",
    "upstream.analytics.main",
)


def test_the_services_import_without_the_harness_dependencies() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in HARNESS_ONLY)
    imports = "; ".join(f"import {module}" for module in SERVICES)
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {blocked}; {imports}; print('ok')"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_harness_dependencies_are_an_extra_and_every_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    assert not any(name in required for name in HARNESS_ONLY)
    assert {"locust", "matplotlib", "looptime"} <= {
        spec.split(">")[0].split("[")[0] for spec in project["optional-dependencies"]["harness"]
    }
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["harness"]]:
        name = spec.split(">")[0].split("[")[0].split("=")[0].lower()
        assert name in pinned, f"{name} is not pinned in requirements.lock (make lock)"
    assert "file://" not in lock  # nothing of the machine that made it
