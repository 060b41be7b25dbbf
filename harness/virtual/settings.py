"""What a virtual run simulates: how long, which timeline, how many publishers, the site's
traffic and the outside world's latencies."""

from __future__ import annotations

from dataclasses import dataclass

WALL_START = 1_795_000_000.0  # 2026-11-18T09:46:40Z: the simulated week's first second


@dataclass(frozen=True, slots=True)
class VirtualSettings:
    horizon: float = 7 * 86_400.0
    scenario: str = "faults"  # or autoscale
    publishers: int = 3  # topology.yaml's publishers when it has this many; else p1..pN
    rate: float = 2.0  # page requests per second per publisher (of the start)
    burst: int = 4  # requests that arrive while a report is being refreshed
    ims_latency: float = 0.3
    analytics_latency: float = 0.2
    peer_poll: float = 60.0  # shared/scheduled followers look at the store this often
    seed: int = 1
