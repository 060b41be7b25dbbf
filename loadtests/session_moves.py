"""A custom statistic: how many visitors saw their publisher change (a session moved), and
between which publishers. Kept apart from the request statistics, so that moves never count as
requests or skew latency, and summed across workers in Locust's distributed mode.

A visitor calls :meth:`SessionMoves.moved`; workers send their counts to the master with each
report (``report_to_master``), the master adds them up (``worker_report``), and the process that
holds the totals (the master, or the only process) writes them to ``--moves-file`` as JSON when
the test stops.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner

KEY = "tokensim_session_moves"


class SessionMoves:
    def __init__(self, environment: Environment, output: Path | None) -> None:
        self.counts: Counter[str] = Counter()
        self._environment = environment
        self._output = output
        events = environment.events  # (Locust's add_listener has no type hints)
        events.report_to_master.add_listener(self._report_to_master)  # type: ignore[no-untyped-call]
        events.worker_report.add_listener(self._worker_report)  # type: ignore[no-untyped-call]
        events.test_stop.add_listener(self._test_stop)  # type: ignore[no-untyped-call]

    def moved(self, before: str, after: str) -> None:
        self.counts[f"{before}->{after}"] += 1

    def _report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        data[KEY] = dict(self.counts)
        self.counts.clear()

    def _worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        self.counts.update(data.get(KEY, {}))

    def _test_stop(self, **_: Any) -> None:
        if self._output is not None and not isinstance(self._environment.runner, WorkerRunner):
            self._output.write_text(json.dumps(dict(self.counts), indent=2))
