"""Page requests one by one (``VirtualSettings.per_request``): the reference the virtual
world's cheap traffic is tested against.

The virtual world counts a stretch of requests at once (rate x time). Where requests change
what happens, a report fetched on every page load, the node's next call comes with the first
request after its last answer (or its hold); requests arrive as a Poisson stream, so the world
draws the wait for that request once, from an exponential. Here each report's requests are
that stream drawn request by request, each its own event, and the first request once no call
is out and the hold is over makes the call. A change of rate (a node starts or stops) starts
every stream again (it is memoryless); a request of an older stream is dropped.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class RequestStreams:
    """Each report's stream of page requests, and when its requests may call again."""

    rng: random.Random  # the simulation's own
    push: Callable[[float, int, int], None]  # a request: (at, report's slot, epoch)
    epoch: int = 0
    _holds: dict[int, float] = field(default_factory=dict)  # until when, per report's slot

    def restart(self, streams: Iterable[tuple[int, float]], now: float) -> None:
        """New rates: every stream, (report's slot, rate), starts again at ``now``."""
        self.epoch += 1
        for slot, rate in streams:
            self.follow(slot, rate, now)

    def follow(self, slot: int, rate: float, now: float) -> None:
        """The stream's next request after ``now``, when it has traffic."""
        if rate > 0:
            self.push(now + self.rng.expovariate(rate), slot, self.epoch)

    def hold(self, slot: int, until: float) -> None:
        """The report's call was answered: the first request from ``until`` on asks again."""
        self._holds[slot] = until

    def ends_hold(self, slot: int, at: float) -> bool:
        """Whether a request at ``at`` comes once the report's hold is over (it asks, once)."""
        if at < self._holds.get(slot, math.inf):
            return False
        del self._holds[slot]
        return True
