"""A real Redis for tests: started so that it dies with the test process, and its calls held
still in virtual time (looptime would otherwise let hours pass during one reply)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


def dies_with_this_process() -> list[str]:
    """A prefix that has the kernel stop the server when this process ends, however it ends:
    under `make mutate` a mutant's test process exits at its first failure without running
    the fixtures' teardown (see pytest_runtest_logreport), and a server it started must not
    outlive it. setpriv is in util-linux (Debian: always installed)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


# Redis is another process: its replies take real time, while looptime moves virtual time on
# to the next timer as soon as the loop has nothing ready to run. A reply that is slow in real
# time (a loaded CI machine) would then let hours of virtual time pass during one Redis call,
# and the test would see a timeout that production never would. So while a Redis call is
# outstanding the loop is kept busy, and virtual time stands still: Redis answers "instantly".
REDIS_CALLS = ("get", "put", "remove_if", "try_lease", "release_lease")


@contextlib.asynccontextmanager
async def virtual_time_held() -> AsyncIterator[None]:
    """Keep a callback ready on the loop, so that looptime does not advance virtual time."""
    loop = asyncio.get_running_loop()
    held = True

    def keep_busy() -> None:  # re-arms itself until the wrapped call is over
        if held:
            loop.call_soon(keep_busy)

    loop.call_soon(keep_busy)
    try:
        yield
    finally:
        held = False


def held_during_io(call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(call)
    async def held(*args: Any, **kwargs: Any) -> Any:
        async with virtual_time_held():
            return await call(*args, **kwargs)

    return held
