"""How many visitors there are over a run: constant (``--shape constant``), or a base with a
burst at every token expiry instant (``--shape expiry-storm``, one lifetime apart, given by
``--token-lifetime``). Reads Locust's own ``-u``, ``-r`` and ``-t`` (``use_common_options``)."""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

BURST_WIDTH = 1.5  # seconds around each expiry instant
BURST = 3  # times the base number of users


class ScenarioShape(LoadTestShape):
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options: Any = self.runner.environment.parsed_options
        users, rate, run_time = options.num_users or 1, options.spawn_rate, options.run_time
        now: float = self.get_run_time()  # type: ignore[no-untyped-call]
        if run_time and now >= run_time:
            return None
        if options.shape != "expiry-storm":
            return users, rate
        lifetime, half = options.token_lifetime, BURST_WIDTH / 2
        into = now % lifetime
        near_expiry = into >= lifetime - half or into < half
        if near_expiry and now > lifetime / 2:
            return users * BURST, float(users * BURST)
        return users, float(users)
