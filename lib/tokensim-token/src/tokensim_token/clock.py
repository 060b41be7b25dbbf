"""The clock, injected everywhere time matters, so a 24 h token lifetime can be tested in ms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Clock:
    """Two readings of time.

    ``monotonic`` measures intervals (token expiry, backoff): it never jumps. ``wall`` is
    seconds since the epoch, used only for what must survive a restart (a persisted token's
    expiry) or be shown to people. Tests pass the event loop's virtual time for both.
    """

    monotonic: Callable[[], float]
    wall: Callable[[], float]

    @classmethod
    def system(cls) -> Clock:
        return cls(monotonic=time.monotonic, wall=time.time)

    @classmethod
    def of_loop(cls, loop: asyncio.AbstractEventLoop, *, wall_offset: float) -> Clock:
        """A clock driven by ``loop.time()``; ``wall = wall_offset + loop.time()``.

        Production services use the system clock; virtual-time tests use this so that
        ``asyncio.sleep`` and the clock agree.
        """
        return cls(monotonic=loop.time, wall=lambda: wall_offset + loop.time())
