"""pytest hooks for `make mutate` only (loaded with ``-p tests.support.mutmut_plugin`` from
pyproject's mutmut settings; a plain pytest run never loads them): run the tests that reach a
mutant fastest first, end a hung test's process, and stop at the first failure without
teardown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under `make mutate` each mutant runs the tests that reach it and stops at the first
    # failure: running them fastest first (by the durations mutmut measured in its clean run)
    # makes a killed mutant cost the quickest test that notices it, not the whole list.
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    long = [item for item in items if item.get_closest_marker("long")]
    if long:  # several lifetimes each: covered by faster tests of the same behaviour
        config.hook.pytest_deselected(items=long)
        items[:] = [item for item in items if not item.get_closest_marker("long")]
    stats = Path("mutmut-stats.json")
    if not stats.is_file():
        return
    durations: dict[str, float] = json.loads(stats.read_text())["duration_by_test"]
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
    # A mutant that makes a test wait forever (a lock never released, a reply never sent, a
    # refresher that never sleeps) is caught when that test overruns its own clean duration
    # five times over (5 s at least: three mutants share two cores), not when mutmut's CPU
    # limit for the whole list expires. The thread method ends the process: the signal
    # method raises inside whatever runs, and a busy asyncio task swallows that.
    for item in items:
        limit = max(5.0, 5 * durations.get(item.nodeid, 1.0))
        item.add_marker(pytest.mark.timeout(limit, method="thread"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under `make mutate` the first failing test has killed its mutant: end the run there,
    # as -x would, but without tearing down first. A teardown can wait a minute in real
    # time for a reply the mutant will never send (aiohttp waits for handlers in flight).
    if report.failed and "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        os._exit(1)
