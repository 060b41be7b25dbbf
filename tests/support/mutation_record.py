"""``python -m tests.support.mutation_record``: the record of one `make mutate` run, written
to ``reports/mutation-<time>.md`` from mutmut's own statistics (mutants/mutmut-cicd-stats.json)
and the run's start time; docs/mutation.md says how to read it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

STATS = Path("mutants/mutmut-cicd-stats.json")


def main() -> None:
    started = float(sys.argv[1]) if len(sys.argv) > 1 else time.time()
    stats = json.loads(STATS.read_text())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    minutes, seconds = divmod(round(time.time() - started), 60)
    now = dt.datetime.now(dt.UTC)
    lines = [
        f"# make mutate, {now:%Y-%m-%d %H:%M} UTC, commit {commit or 'unknown'}",
        "",
        f"Took {minutes} min {seconds} s. Scope and settings: `[tool.mutmut]` in pyproject.toml.",
        "",
        "| outcome | mutants |",
        "|---|--:|",
        *(f"| {name.replace('_', ' ')} | {count:,} |" for name, count in sorted(stats.items())),
        "",
        "Survivors: `.venv/bin/mutmut results`; one of them: `.venv/bin/mutmut show NAME`.",
    ]
    out = Path("reports") / f"mutation-{now:%Y%m%dT%H%M%SZ}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"record: {out}")


if __name__ == "__main__":
    main()
