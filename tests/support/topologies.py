"""Small topology files for tests, and where the repository is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.topology import Topology, load_topology
from harness.designs import Design
from harness.load.options import LoadOptions

ROOT = Path(__file__).resolve().parents[2]  # the repository: topology.yaml, docs/, lib/


VALID = """\
ims:
  token_url: http://127.0.0.1:8701/ims/token/v3
  client_id: c
  client_secret_env: S
  scope: openid
analytics: {base_url: "http://127.0.0.1:8702", company_id: co, rsid: r}
publishers:
  - {id: p1, port: 8101}
  - {id: p2, port: 8102}
dispatchers:
  - {id: d1, port: 8201, publisher: p1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    return path


def shipped() -> Topology:
    """The repository's own topology.yaml, parsed."""
    return load_topology(ROOT / "topology.yaml")


def load_options(design: str = "per-node", **changes: Any) -> LoadOptions:
    """A load run's options, its design given by name (``scheduled@1.5``)."""
    return LoadOptions(design=Design.parse(design), **changes)


def without_analytics_latency(topology: Topology) -> Topology:
    """``topology`` with Analytics answering at once: for a run that counts calls per cadence,
    where seconds-long reports (median 1 s, a tail to 10 s) would leave a few calls to chance."""
    simulation = topology.simulation
    analytics = simulation.analytics
    latency = analytics.latency.evolve(enabled=False)
    return topology.evolve(
        simulation=simulation.evolve(analytics=analytics.evolve(latency=latency))
    )
