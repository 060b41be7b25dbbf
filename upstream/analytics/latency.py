"""How long the simulated Analytics takes to answer a report (docs/world.md).

Adobe's staff describe reports taking from well under a second to several seconds, slower when
many requests hit one report suite at once (a per-report-suite throttle that slows requests
without an error), and the API gateway cutting a request at 60 s. The model: a log-normal draw
whose median and 99th percentile at rest are configured (1 s and 6 s by default), multiplied
by ``1 + per_concurrent`` for each request already in flight on the same report suite; what
would take longer than the gateway's timeout ends there with a 504. The same model serves the
simulated service and the virtual world, so the two cannot drift apart.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from core.topology import LatencyConfig

Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def sigma_of(config: LatencyConfig) -> float:
    """The log-normal's sigma, from its median and 99th percentile at rest."""
    return math.log(config.p99 / config.median) / Z99


@dataclass
class LatencyModel:
    config: LatencyConfig  # fixed for the model's life (a frozen model)
    rng: random.Random
    in_flight: dict[str, int] = field(default_factory=dict)  # report suite -> requests
    sigma: float = field(init=False)  # of the log-normal: from the median and the p99

    def __post_init__(self) -> None:
        self.sigma = sigma_of(self.config)

    def draw(self, concurrent: int) -> float:
        """Seconds a request takes with ``concurrent`` others in flight on its report suite."""
        config = self.config
        if not config.enabled:
            return 0.0
        at_rest = config.median * math.exp(self.sigma * self.rng.gauss(0.0, 1.0))
        return at_rest * (1.0 + config.per_concurrent * concurrent)

    def draw_for(self, rsid: str) -> float:
        """Seconds the next request on ``rsid`` takes, given the ones in flight on it now."""
        return self.draw(self.in_flight.get(rsid, 0))

    def started(self, rsid: str) -> None:
        self.in_flight[rsid] = self.in_flight.get(rsid, 0) + 1

    def ended(self, rsid: str) -> None:
        left = self.in_flight.get(rsid, 0) - 1
        if left > 0:
            self.in_flight[rsid] = left
        else:
            self.in_flight.pop(rsid, None)

    def times_out(self, seconds: float) -> bool:
        """Whether the gateway cuts a request that would take ``seconds``."""
        return seconds >= self.config.gateway_timeout
