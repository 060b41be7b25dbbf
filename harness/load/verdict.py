"""A load run's outcome: each invariant as a :class:`~harness.results.Check`, and the files
the run leaves in its folder (the verdict, every counter, the trace)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from harness.load.invariants import RunData
from harness.results import Check


@dataclass(frozen=True, slots=True)
class Verdict:
    scenario: str
    folder: Path
    checks: tuple[Check, ...]
    data: RunData

    @property
    def all_held(self) -> bool:
        return all(c.held for c in self.checks)

    def text(self) -> str:
        head = f"{self.scenario}: {'PASS' if self.all_held else 'FAIL'}  ({self.folder})"
        if (self.folder / "NOTE.txt").exists():
            head += "\n  note: " + (self.folder / "NOTE.txt").read_text().strip()
        width = max(len(c.name) for c in self.checks)
        lines = [
            f"  {'PASS' if c.held else 'FAIL'}  {c.name:<{width}}  {c.measured}"
            for c in self.checks
        ]
        return "\n".join([head, *lines])


def write_report(folder: Path, data: RunData, verdict: Verdict) -> None:
    (folder / "verdict.txt").write_text(verdict.text() + "\n")
    for name, counters in (
        ("ims", data.ims),
        ("analytics", data.analytics),
        ("lb", data.lb),
        ("nodes", data.nodes),
    ):
        (folder / f"{name}.json").write_text(json.dumps(counters, indent=2))
    summary = dataclasses.asdict(data)
    summary["locust"]["failures_by_reason"] = dict(data.locust.failures_by_reason)
    summary["locust"]["moves"] = dict(data.locust.moves)
    summary.pop("trace", None)
    if data.trace is not None:
        (folder / "trace.json").write_text(json.dumps(dataclasses.asdict(data.trace), indent=1))
    summary["verdict"] = [
        {"invariant": c.name, "held": c.held, "measured": c.measured} for c in verdict.checks
    ]
    (folder / "results.json").write_text(json.dumps(summary, indent=2, default=str))
