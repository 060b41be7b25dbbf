"""What a load run measured besides its counters, as typed facts: the timeline's steps (by
kind, with when each happened) and what the estate did at each (a restart, a partition, an
instance start, the recovery after an outage). Invariants read these fields; labels are for
people and are never parsed back.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class StepKind(enum.Enum):
    """What a step of a scenario's timeline does; its label is what a report shows."""

    IMS_DOWN = "IMS down"
    IMS_BACK = "IMS back"
    IMS_FLAKY = "IMS flaky"
    IMS_HEALTHY = "IMS healthy"
    REVOKE = "revoke every token"
    KILL = "kill"
    RESTART = "restart"
    CUT_OFF = "cut off from IMS"
    HEAL = "reaches IMS again"
    ANALYTICS_DOWN = "Analytics down"
    ANALYTICS_BACK = "Analytics back"
    SCALE_OUT = "scale out"
    SCALE_IN = "scale in"
    RECYCLE = "recycle"


@dataclass(frozen=True, slots=True)
class Happened:
    """A step of the timeline, done: its kind and the nodes it concerned, when (wall clock)."""

    kind: StepKind
    nodes: tuple[str, ...]
    label: str
    at: float


def when(happened: list[Happened], kind: StepKind, node: str | None = None) -> float | None:
    """When the first step of ``kind`` (concerning ``node``, if given) happened; None: never."""
    for step in happened:
        if step.kind is kind and (node is None or node in step.nodes):
            return step.at
    return None


@dataclass(frozen=True, slots=True)
class Restart:
    """A publisher started again after a crash: what it did on start."""

    node: str
    token_calls: int  # its own count, read the moment it was healthy
    restored: bool  # it adopted the token sealed on its disk
    counted_at: float = math.inf  # wall clock: when its count was read (once it was healthy)


@dataclass(frozen=True, slots=True)
class InstanceStart:
    """A new or recycled instance (an empty disk) joined the tier."""

    node: str
    token_calls: int  # made while it started, up to the moment it was healthy


@dataclass(slots=True)
class Partition:
    """A publisher cut off from IMS: counts read when the cut began and when it healed."""

    node: str
    stale_at_cut: float = 0.0
    failed_at_cut: float = 0.0
    stale_during: float | None = None  # stale reports it served while cut off
    failed_during: float | None = None  # token calls that failed while cut off
    token_valid_at_heal: bool | None = None
    # When the cut was in place and when it was lifted (wall clock). The timeline's step is
    # stamped before its action runs (a /status read, then the route change), so a token call
    # IMS answered in between is not one that got through the partition.
    cut_at: float | None = None
    healed_at: float | None = None


@dataclass(slots=True)
class Measured:
    """Everything a run's timeline measured. Empty fields: not measured in this scenario."""

    recovery_s: float | None = None  # after an IMS outage; math.inf: not within the limit
    restarts: list[Restart] = field(default_factory=list)
    starts: list[InstanceStart] = field(default_factory=list)
    partition: Partition | None = None

    def restart_of(self, node: str) -> Restart | None:
        return next((r for r in self.restarts if r.node == node), None)

    @property
    def token_calls_per_start(self) -> float | None:
        if not self.starts:
            return None
        return sum(s.token_calls for s in self.starts) / len(self.starts)
