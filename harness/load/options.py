"""How a load run is run: :class:`LoadOptions`, resolved once by the command line (or by
``compare`` and ``demo``) and passed down whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.designs import Design


@dataclass(frozen=True, slots=True)
class LoadOptions:
    design: Design  # what the publishers run (topology.yaml's unless the command says)
    users: int = 30
    lifetime: int = 20  # seconds: the simulated IMS's expires_in for the run
    out: Path = Path("reports")
    free_ports: bool = False
    ims_latency: float = 0.15  # the real IMS takes ~100-300 ms; calls can overlap as they do
    sticky: bool = True
    running: bool = False  # use the estate already running at the topology's ports
    lb_engine: str | None = None  # overrides lb.engine: builtin or haproxy
    hosts: bool = False  # publishers on hosts (network namespaces) of their own; needs root
    keep_state: Path | None = None  # keep tokens and keys here (never under ``out``)
    log_level: str = "INFO"  # of every service the run starts
    workers: int = 0  # Locust worker processes (Locust's distributed mode); 0: one process
    store: Literal["file", "redis"] | None = None  # overrides token.store.kind; redis: started
