"""What a virtual run simulates: how long, which timeline, how many publishers, the site's
traffic, the report's cadence and the outside world's latencies."""

from __future__ import annotations

from dataclasses import dataclass

WALL_START = 1_795_000_000.0  # 2026-11-18T09:46:40Z: the simulated week's first second


@dataclass(frozen=True, slots=True)
class VirtualSettings:
    horizon: float = 7 * 86_400.0
    scenario: str = "faults"  # or autoscale, steady
    publishers: int = 3  # topology.yaml's publishers when it has this many; else p1..pN
    rate: float = 2.0  # page requests per second per publisher (of the start)
    burst: int = 4  # naive: the requests that each call Analytics themselves at a refresh
    ims_latency: float = 0.3
    # analytics.report_refresh for the run (seconds; 0: every page load); None: topology.yaml's
    refresh: float | None = None
    latency: bool = True  # Analytics' latency model (simulation.analytics.latency); off: 0 s
    peer_poll: float = 60.0  # shared/scheduled followers look at the store this often
    trace: bool = True  # sample the run over time for the report's figures
    # Every page request its own event (the reference the cheap traffic is checked against):
    # on every page load, a node's next call comes with the first request that arrives after
    # its hold, drawn request by request, instead of one draw of the wait for it.
    per_request: bool = False
    seed: int = 1
