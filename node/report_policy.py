"""When a node asks Analytics again for its report: one policy, used by the node's report
service (:mod:`node.reports`) and by the virtual world that models thousands of nodes, so that
the two cannot drift apart.

* A report is refreshed every ``refresh`` seconds (0: on every page load).
* After a failed fetch (Analytics down, no token), the last report is served meanwhile and
  the next try waits: 1 s after the first failure, doubling with each failure in a row up to a
  minute (at 1 s flat, fifty nodes asked a down Analytics 3,000 times a minute: the virtual
  world's 48-node week).
* After a 429 (over Analytics' 12 requests per 6 s per client): a back-off of the report, not
  of the token: at least one window (Adobe's 6 s), then a random part of a back-off that
  doubles up to 5 minutes, so that nodes throttled together do not come back together. (With
  the window as a floor of full jitter, every node refused in the first window came back at
  6 s exactly: 50 publishers starting together were 102 429s and 1,822 user errors in a
  day; with the floor added to the jitter, 67 and 1,496.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAILURE_HOLD = 1.0
FAILURE_CAP = 60.0
THROTTLE_BASE = 6.0
THROTTLE_CAP = 300.0


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    refresh: float
    failure_hold: float = FAILURE_HOLD
    failure_cap: float = FAILURE_CAP
    throttle_base: float = THROTTLE_BASE
    throttle_cap: float = THROTTLE_CAP

    def hold_after_failure(self, failures: int = 1) -> float:
        """The wait after the ``failures``-th failed fetch in a row (1 for the first)."""
        first = min(self.failure_hold, self.refresh or 1.0)
        return min(self.failure_cap, first * 2.0 ** min(failures - 1, 16))

    def hold_after_throttle(self, throttled: int, rng: random.Random) -> float:
        """The wait after the ``throttled``-th 429 in a row (1 for the first)."""
        ceiling = min(self.throttle_cap, self.throttle_base * 2 ** min(throttled - 1, 16))
        return self.throttle_base + rng.uniform(0.0, ceiling)
