"""The map's defaults, in one place: ``python -m harness map``, ``make demo`` and ``make
bench`` draw the same map unless told otherwise (a light module: the command line imports it
before it knows which command runs)."""

from __future__ import annotations

DESIGNS = (
    "per-node,per-node+shared-report,shared,replicated,scheduled,aem-ims,hourly,author-report,"
    "edge-cached,naive"
)
SIZES = (3, 10, 50)
CADENCES = (0.0, 60.0, 1800.0)  # every page load, every minute, every 30 minutes
DAY = 86_400.0
HORIZON = 7 * DAY  # each cell a virtual week of the standard faults
