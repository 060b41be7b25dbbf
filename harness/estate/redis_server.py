"""A real ``redis-server`` for one run's shared token store (``harness load --store redis``).

The publishers of a shared or replicated design keep one token for the cluster in a store.
By default that store is a file in the run's state folder (a shared volume); with
``--store redis`` the run starts Debian's ``redis-server`` instead, as a real estate would run
one beside its publishers: on loopback, or with ``--hosts`` on the bridge's gateway address
so that every host reaches it over the network, and partitions cut it off like anything else.

The password is a secret like the others: from ``TOKENSIM_REDIS_PASSWORD`` when set, else a
random one for the run. It reaches redis-server through a config file written 0600 in the
run's private state folder (not its command line, which ``ps`` shows to every user) and the
publishers through their environment (the topology names the variable, never the value).
Nothing is saved to disk (``save ""``, no append-only file): the store holds one sealed token.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tokensim_token.files import write_atomic

from core.topology import StoreConfig, Topology
from harness.errors import NotOurEstate
from harness.estate.processes import free_ports

PASSWORD_ENV = "TOKENSIM_REDIS_PASSWORD"  # noqa: S105 (the name of a variable)
READY = b"Ready to accept connections"


@dataclass(frozen=True, slots=True)
class RedisPlan:
    """Where the run's redis-server listens, and the password every client needs."""

    host: str
    port: int
    password: str

    @classmethod
    def new(cls, host: str, environ: dict[str, str] | None = None) -> RedisPlan:
        given = (environ or {}).get(PASSWORD_ENV, "")
        (port,) = free_ports(1)
        return cls(host=host, port=port, password=given or secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def store(self, current: StoreConfig) -> StoreConfig:
        """The topology's token store, pointed at this server (the password by name only)."""
        return current.evolve(kind="redis", url=self.url, password_env=PASSWORD_ENV)

    def place(self, topology: Topology) -> Topology:
        return topology.evolve(token=topology.token.evolve(store=self.store(topology.token.store)))

    def environment(self) -> dict[str, str]:
        return {PASSWORD_ENV: self.password}


@contextlib.asynccontextmanager
async def redis_server(plan: RedisPlan, folder: Path, log: Path) -> AsyncIterator[None]:
    """Run redis-server for ``plan`` until the block ends; its config in ``folder`` (private),
    its output in ``log``. Refuses with one line when redis-server is missing or will not
    start."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise NotOurEstate("--store redis needs redis-server (apt-get install redis-server)")
    config = folder / "redis.conf"
    write_atomic(
        config,
        "\n".join(
            [
                f"bind {plan.host}",
                f"port {plan.port}",
                "protected-mode yes",
                f'requirepass "{plan.password}"',
                'save ""',
                "appendonly no",
                f"dir {folder}",
                "",
            ]
        ).encode(),
    )
    process = await asyncio.create_subprocess_exec(
        binary,
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        seen = await _until_ready(process.stdout, plan)
        copying = asyncio.create_task(_copy(process.stdout, log, seen))
        try:
            yield
        finally:
            copying.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=10)
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _until_ready(stream: asyncio.StreamReader, plan: RedisPlan) -> list[bytes]:
    """What redis-server said up to "Ready to accept connections" (it logs to stdout)."""
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(15):
            while line := await stream.readline():
                seen.append(line)
                if READY in line:
                    return seen
    except TimeoutError:
        raise NotOurEstate("redis-server did not say it was ready within 15 s") from None
    last = seen[-1].decode(errors="replace").strip() if seen else "no output"
    raise NotOurEstate(f"redis-server did not start on {plan.host}:{plan.port}: {last}")


async def _copy(stream: asyncio.StreamReader, log: Path, seen: list[bytes]) -> None:
    with log.open("ab") as out:
        out.writelines(seen)
        while line := await stream.readline():
            out.write(line)
            out.flush()
