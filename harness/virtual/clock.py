"""Running a coroutine in virtual time, through looptime's public API.

``looptime.new_event_loop`` makes a loop whose ``time()`` is virtual, with the compaction on
(its documented default for a loop made this way): ``asyncio.sleep`` and every timeout then
move the virtual clock at once instead of waiting, so a simulated week takes seconds. The loop
never touches the wall clock; code under it reads time from a
:class:`tokensim_token.clock.Clock` built on this loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import looptime

T = TypeVar("T")


def run_in_virtual_time(main: Callable[[], Awaitable[T]], *, noop_cycles: int = 0) -> T:
    """Run ``main()`` to completion on a new virtual-time loop, then close the loop.

    ``noop_cycles``: how many idle loop cycles pass before the clock jumps to the next timer
    (looptime's default of 42 is for tests whose I/O is real; a simulation has none)."""
    loop = looptime.new_event_loop(start=0.0, noop_cycles=noop_cycles)
    if not loop.looptime_on:
        raise RuntimeError("looptime made a loop without virtual time")
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
