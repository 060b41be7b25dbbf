"""The designs a comparison runs: a token strategy, and for two of them one parameter.

Written ``name`` or ``name@value`` on the command line:

* ``scheduled@1.25``: the scheduled job runs every 1.25 token lifetimes (default 0.5, which is
  "every 12 h" for Adobe's 24 h tokens). Above 1 it cannot work, and the comparison shows it.
* ``replicated@0.2``: each push from the leader is lost with probability 0.2 (default 0);
  followers fall back to fetching their own token.

Every other strategy takes no parameter. Any design may end in ``+shared-report``: the nodes
then share one Analytics report through the store (one node refreshes it under a lease, the
others adopt it; the replicated design's leader pushes it with the token) instead of each
fetching its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.topology import ReplicationConfig, Topology
from harness.errors import DesignError
from node.token.strategies import STRATEGIES

DEFAULT_SCHEDULE = 0.5  # lifetimes
SHARED_REPORT = "+shared-report"
REPLICATION_LAG = 0.02  # lifetimes: about 30 min for a 24 h token, a fraction of a second here


@dataclass(frozen=True, slots=True)
class Design:
    strategy: str
    schedule: float = DEFAULT_SCHEDULE  # scheduled: interval, in token lifetimes
    loss: float = 0.0  # replicated: probability that a push is lost
    shared_report: bool = False  # one Analytics report for the cluster

    @property
    def label(self) -> str:
        name = self.strategy
        if self.strategy == "scheduled" and self.schedule != DEFAULT_SCHEDULE:
            name = f"scheduled@{self.schedule:g}"
        if self.strategy == "replicated" and self.loss:
            name = f"replicated@{self.loss:g}"
        return name + (SHARED_REPORT if self.shared_report else "")

    def applied(self, topology: Topology, lifetime: float) -> Topology:
        """``topology`` running this design, for tokens that live ``lifetime`` seconds."""
        topology = topology.with_token(
            strategy=self.strategy, schedule_interval=self.schedule * lifetime
        ).evolve(
            analytics=topology.analytics.evolve(
                report_sharing="shared" if self.shared_report else "per-node"
            )
        )
        if self.strategy == "replicated":
            replication = ReplicationConfig(
                lag=REPLICATION_LAG * lifetime, loss=self.loss, fallback="fetch"
            )
            topology = topology.with_token(replication=replication)
        return topology

    @classmethod
    def parse(cls, spec: str) -> Design:
        spec = spec.strip()
        shared = spec.endswith(SHARED_REPORT)
        design = cls._parse(spec.removesuffix(SHARED_REPORT)) if shared else cls._parse(spec)
        return replace(design, shared_report=shared)

    @classmethod
    def _parse(cls, spec: str) -> Design:
        name, _, value = spec.strip().partition("@")
        if name not in STRATEGIES:
            raise DesignError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
        if not value:
            return cls(name)
        try:
            number = float(value)
        except ValueError:
            raise DesignError(f"{spec!r}: expected a number after '@'") from None
        if name == "scheduled" and number > 0:
            return cls(name, schedule=number)
        if name == "replicated" and 0.0 <= number <= 1.0:
            return cls(name, loss=number)
        raise DesignError(
            f"{spec!r}: only scheduled@<interval in lifetimes, > 0> and "
            "replicated@<loss probability, 0..1> take a value"
        )


def parse_designs(specs: str) -> list[Design]:
    """``per-node,shared,scheduled@1.25`` to designs; raises DesignError naming the bad one."""
    designs = [Design.parse(s) for s in specs.split(",") if s.strip()]
    if not designs:
        raise DesignError("no strategy given")
    return designs
