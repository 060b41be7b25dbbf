"""What a fault timeline can do to a running estate, over HTTP and through the supervisor."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from core.topology import Topology
from harness.errors import NotOurEstate
from harness.estate.hosts import NetworkHosts
from harness.estate.processes import ServiceSpec
from harness.estate.supervisor import Supervisor
from harness.load.facts import Happened, InstanceStart, Measured, Restart

DRAIN = 0.5  # seconds a deregistered instance gets to finish what is in flight


class EstateControl:
    """The estate's services by id; ``supervisor`` is None for an estate already running."""

    def __init__(
        self,
        specs: Mapping[str, ServiceSpec],
        http: aiohttp.ClientSession,
        supervisor: Supervisor | None = None,
        hosts: NetworkHosts | None = None,
        topology: Topology | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.http = http
        self._supervisor = supervisor
        self._hosts = hosts
        self._topology = topology
        self.events: list[Happened] = []  # the timeline's steps as they were done
        self.measured = Measured()

    @property
    def supervisor(self) -> Supervisor:
        if self._supervisor is None:
            raise NotOurEstate("killing or starting a service needs an estate the harness started")
        return self._supervisor

    def url(self, service_id: str) -> str:
        return self.specs[service_id].url

    def admin_url(self, service_id: str) -> str:
        """Where ``service_id``'s control plane listens (its own port, or its admin one)."""
        spec = self.specs[service_id]
        return spec.admin_url or spec.url

    @property
    def publishers(self) -> list[str]:
        return [s.id for s in self.specs.values() if s.module == "node"]

    @property
    def exits(self) -> tuple[str, ...] | None:
        """The services that exited unasked, described; None for an estate not ours."""
        if self._supervisor is None:
            return None
        return tuple(e.describe() for e in self._supervisor.exits)

    @property
    def running_publishers(self) -> list[str]:
        """The publishers up now (all of them in an estate the harness did not start)."""
        supervisor = self._supervisor
        return [p for p in self.publishers if supervisor is None or supervisor.running(p)]

    async def get_json(self, url: str) -> Any:
        async with self.http.get(url, headers={"Accept": "application/json"}) as response:
            return await response.json()

    async def faults(self, service_id: str, **changes: Any) -> None:
        async with self.http.put(f"{self.url(service_id)}/admin/faults", json=changes) as r:
            r.raise_for_status()

    async def revoke(self) -> None:
        async with self.http.post(f"{self.url('ims')}/admin/revoke") as r:
            r.raise_for_status()

    def partition(self, node_id: str, service: str, *, cut: bool = True) -> None:
        """Cut ``node_id``'s host off from ``service`` (ims or analytics), or heal the cut."""
        if self._hosts is None:
            raise NotOurEstate("a partition needs the estate on hosts of its own (--hosts)")
        plan = self._hosts.plan
        address = {"ims": plan.ims, "analytics": plan.analytics}[service]
        if cut:
            self._hosts.partition(node_id, address)
        else:
            self._hosts.heal(node_id, address)

    async def kill(self, node_id: str) -> None:
        """A crash: SIGKILL, no draining."""
        await self.supervisor.stop(node_id, sig=signal.SIGKILL)

    async def restart(self, node_id: str) -> None:
        """Start the node again; record what it did on start, read from its own /status the
        moment it is healthy (later token calls are its usual schedule)."""
        await self.supervisor.start(self.specs[node_id])
        await self.supervisor.wait_healthy([node_id], timeout=30)
        token = (await self.get_json(f"{self.url(node_id)}/status"))["token"]
        counted_at = time.time()  # after the reply: a call counted was made before this
        self.measured.restarts.append(
            Restart(
                node_id, int(token["token_calls"]), bool(token["restored_from_disk"]), counted_at
            )
        )

    # --- AEM as a Cloud Service: instances come and go, each with an empty disk -----------

    async def join(self, node_id: str) -> None:
        """A new instance of ``node_id`` (and its dispatcher) with an empty disk: started,
        healthy, then registered in the balancer. Records its token calls at start."""
        topology = self._own_topology()
        dispatcher = _dispatcher_of(topology, node_id)
        (Path(topology.token.state_dir) / "nodes" / f"{node_id}.token").unlink(missing_ok=True)
        for service in (node_id, dispatcher):
            if not self.supervisor.running(service):
                await self.supervisor.start(self.specs[service])
        await self.supervisor.wait_healthy([node_id, dispatcher], timeout=30)
        token = (await self.get_json(f"{self.url(node_id)}/status"))["token"]
        self.measured.starts.append(InstanceStart(node_id, int(token["token_calls"])))
        await self.target(dispatcher, "register")

    async def leave(self, node_id: str) -> None:
        """Take ``node_id`` out: deregister its dispatcher (new requests go elsewhere), let
        what is in flight finish, then stop both (SIGTERM: the node drains)."""
        topology = self._own_topology()
        dispatcher = _dispatcher_of(topology, node_id)
        await self.target(dispatcher, "deregister")
        await asyncio.sleep(DRAIN)
        await self.supervisor.stop(dispatcher)
        await self.supervisor.stop(node_id)

    async def recycle(self, node_id: str) -> None:
        """The instance is replaced by a new one (AEM as a Cloud Service does it any time)."""
        await self.leave(node_id)
        await self.join(node_id)

    async def target(self, dispatcher: str, action: str) -> None:
        """Register or deregister a dispatcher in the balancer, through its control plane."""
        url = f"{self.admin_url('lb')}/lb/targets/{dispatcher}/{action}"
        async with self.http.post(url) as response:
            response.raise_for_status()

    def _own_topology(self) -> Topology:
        if self._topology is None or self._supervisor is None:
            raise NotOurEstate("instances come and go only in an estate the harness started")
        return self._topology

    async def tokens_issued_to(self, node_id: str) -> int:
        stats = await self.get_json(f"{self.url('ims')}/admin/stats")
        return int(stats["issued_by_caller"].get(node_id, 0))

    @property
    def token_holders(self) -> list[str]:
        """The services that hold a token: the publishers up now, or the author alone (the
        author-report design: its publishers hold none)."""
        authors = [s.id for s in self.specs.values() if s.module == "author"]
        return authors or self.running_publishers

    async def wait_until_all_refreshed(self, since_counts: dict[str, int], limit: float) -> float:
        """Seconds until every token holder has made a new successful token call."""
        return await self._until_every(
            self.token_holders,
            lambda node, status: status["token"]["refresh_count"] > since_counts.get(node, 0),
            limit,
        )

    async def wait_for_first_reports(self, limit: float) -> float:
        """Seconds until every running publisher holds a report to show (its first call
        answered with one), at most ``limit``. Before that, a visitor's request waits for
        Analytics (seconds, a tail past the dispatcher's timeout) or, when the first call
        failed, gets "no report yet" until the retry answers: a load run starts on a
        warmed-up estate, as a deployment takes traffic once its pages render."""
        return await self._until_every(
            self.running_publishers,
            lambda _node, status: holds_report(status),
            limit,
        )

    async def _until_every(
        self,
        nodes: list[str],
        done: Callable[[str, Any], bool],
        limit: float,
    ) -> float:
        """Seconds until ``done(node, its /status)`` holds for every node (each polled every
        0.1 s until it does), or infinity when ``limit`` seconds pass first."""
        started = time.monotonic()
        pending = set(nodes)
        while pending and time.monotonic() - started < limit:
            for node in list(pending):
                if done(node, await self.get_json(f"{self.url(node)}/status")):
                    pending.discard(node)
            if pending:
                await asyncio.sleep(0.1)
        return time.monotonic() - started if not pending else float("inf")

    async def refresh_counts(self) -> dict[str, int]:
        counts = {}
        for node in self.token_holders:
            status = await self.get_json(f"{self.url(node)}/status")
            counts[node] = int(status["token"]["refresh_count"])
        return counts


def holds_report(status: Mapping[str, Any]) -> bool:
    """A publisher's ``/status`` says it holds a report to show (a call answered with one)."""
    return bool(status["reports"].get("ok", 0) > 0)


def _dispatcher_of(topology: Topology, node_id: str) -> str:
    for dispatcher in topology.dispatchers:
        if dispatcher.publisher == node_id:
            return dispatcher.id
    raise NotOurEstate(f"{node_id} has no dispatcher in front of it")
