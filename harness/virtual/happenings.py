"""The timeline's events applied to a virtual estate: IMS and Analytics faults, restarts,
scaling and recycling (:mod:`harness.virtual.timeline` says when)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.virtual.timeline import Event, EventKind

if TYPE_CHECKING:
    from harness.virtual.simulation import Simulation


def actions_of(events: tuple[Event, ...]) -> list[tuple[float, EventKind, tuple[str, ...], bool]]:
    """Each event as its begin (and, for a window, its end) instant, in time order."""
    out = []
    for e in events:
        out.append((e.at, e.kind, e.nodes, True))
        if e.duration:
            out.append((e.end, e.kind, e.nodes, False))
    return sorted(out, key=lambda a: a[0])


async def apply_event(
    sim: Simulation, kind: EventKind, nodes: tuple[str, ...], begins: bool
) -> None:
    """What ``kind`` does to the estate (``begins``: the window opens; else it closes)."""
    now = sim.now()
    ims = sim.ims
    if kind is EventKind.IMS_OUTAGE:
        sim.traffic.flush(now)
        ims.faults.outage = begins
        if not begins:
            sim.traffic.ims_back_at = now
    elif kind is EventKind.IMS_FLAKY:
        ims.faults.error_rate = 0.5 if begins else 0.0
    elif kind is EventKind.REVOCATION:
        ims.revoke_all()
    elif kind is EventKind.ANALYTICS_OUTAGE:
        sim.traffic.set_outage(begins)
    elif kind is EventKind.RESTART:  # a process restart: the node keeps its disk
        for node_id in nodes:
            if begins:
                await sim.stop_node(node_id)
            else:
                await _start_later(sim, node_id, empty_disk=False)
    elif kind is EventKind.SCALE_OUT:
        for node_id in nodes:
            await _start_later(sim, node_id, empty_disk=True)
    elif kind is EventKind.SCALE_IN:
        for node_id in nodes:
            await sim.stop_node(node_id)
    elif kind is EventKind.AUTHOR_OUTAGE:  # its repository (and sealed token) survives
        if begins:
            await sim.stop_author()
        else:
            await sim.start_author()
    elif kind is EventKind.RECYCLE:  # AEM as a Cloud Service: a new instance, an empty disk
        for node_id in nodes:
            await sim.stop_node(node_id)
            await _start_later(sim, node_id, empty_disk=True)


async def _start_later(sim: Simulation, node_id: str, *, empty_disk: bool) -> None:
    """A node started after the run began (a restart, a scale-out, a recycled instance)."""
    sim.starts.append((node_id, sim.now()))
    await sim.start_node(node_id, empty_disk=empty_disk, seed=sim.rng.randrange(1 << 30))
