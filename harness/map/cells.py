"""The map's cells: one virtual run per design x publishers x report cadence, two at a time in
worker processes, with progress (cells done of all, elapsed, an estimate of what is left) and
a bound on the whole (``max_seconds``: cells not started by then are reported as not run).

Every cell runs for the same horizon (a week by default) with the same faults, whose windows
last the same absolute time whatever the horizon (an hour of Analytics outage, three of IMS):
so a percentile of the report's age means the same in every cell. A day holds every fault,
the IMS outage included (it starts an hour before the tokens obtained at start expire).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from core.durations import format_duration
from core.topology import Topology
from harness.designs import Design, parse_designs
from harness.map import defaults
from harness.map.cadences import cadence_label
from harness.virtual.outcome import VirtualResult
from harness.virtual.run import simulate
from harness.virtual.settings import VirtualSettings


@dataclass(frozen=True, slots=True)
class MapPlan:
    designs: tuple[Design, ...]
    sizes: tuple[int, ...]
    cadences: tuple[float, ...]  # seconds; 0: every page load
    horizon: float = defaults.HORIZON
    max_seconds: float | None = None  # stop starting cells after this long
    workers: int = 2

    @property
    def cells(self) -> list[tuple[Design, int, float]]:
        return [(d, n, c) for d in self.designs for n in self.sizes for c in self.cadences]


def default_plan() -> MapPlan:
    """The map ``python -m harness map`` draws when given no options."""
    return MapPlan(parse_designs(defaults.DESIGNS), defaults.SIZES, defaults.CADENCES)


@dataclass(frozen=True, slots=True)
class Cell:
    design: Design
    publishers: int
    cadence: float
    result: VirtualResult | None  # None: not run (the map's time bound came first)


def run_cells(
    topology: Topology,
    plan: MapPlan,
    *,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> list[Cell]:
    """Every cell of ``plan``, in the plan's order."""
    started = time.monotonic()
    cells = plan.cells
    results: dict[int, VirtualResult] = {}
    with ProcessPoolExecutor(max_workers=max(1, min(plan.workers, len(cells)))) as pool:
        pending: dict[Future[VirtualResult], int] = {}
        queue = list(enumerate(cells))
        done = 0

        def fill() -> None:
            while queue and len(pending) < plan.workers:
                if plan.max_seconds is not None and time.monotonic() - started > plan.max_seconds:
                    queue.clear()
                    return
                index, (design, size, cadence) = queue.pop(0)
                settings = VirtualSettings(
                    horizon=plan.horizon,
                    scenario="faults",
                    publishers=size,
                    refresh=cadence,
                    trace=False,
                )
                pending[pool.submit(simulate, design, settings, topology)] = index

        fill()
        while pending:
            future = next(iter(_first_done(pending)))
            index = pending.pop(future)
            results[index] = future.result()
            done += 1
            say(_progress(done, len(cells), time.monotonic() - started, cells[index]))
            fill()
    skipped = len(cells) - len(results)
    if skipped:
        say(f"  {skipped} cells not run: the map's --max-seconds came first")
    return [Cell(d, n, c, results.get(i)) for i, (d, n, c) in enumerate(cells)]


def _first_done(pending: dict[Future[VirtualResult], int]) -> set[Future[VirtualResult]]:
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    return done


def _progress(done: int, total: int, elapsed: float, cell: tuple[Design, int, float]) -> str:
    design, size, cadence = cell
    left = elapsed / done * (total - done)
    return (
        f"  [{done}/{total}] {design.label}, {size} publishers, {cadence_label(cadence)} "
        f"({_seconds(elapsed)} elapsed, about {_seconds(left)} left)"
    )


def _seconds(seconds: float) -> str:
    """Wall time for a progress line: ``0.4s``, ``12s``, ``1m5s`` (never ``0ms``)."""
    return f"{seconds:.1f}s" if seconds < 10 else format_duration(round(seconds))


def sizes_of(cells: Sequence[Cell]) -> tuple[int, ...]:
    return tuple(sorted({c.publishers for c in cells}))
