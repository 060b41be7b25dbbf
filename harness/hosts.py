"""Several hosts on one Linux machine: each publisher, with its dispatcher, in a network
namespace of its own, so that a node can be cut off from IMS or Analytics (a partition)
rather than only killed.

The layout, for run-specific names and a /24 of 10.213.x.0::

    root namespace: bridge <br> with .1 (gateway, the load balancer's side), .2 (IMS),
                    .3 (Analytics); the load balancer itself stays on 127.0.0.1
    namespace <ns>-p1: veth with .11, default route via .1; p1 and d1 listen there
    namespace <ns>-p2: veth with .12 ...

A partition is a blackhole route inside a host's namespace to one address (IMS's or
Analytics's): packets are dropped silently, as in a real partition, so the node sees timeouts,
not refusals, while its users, coming through the load balancer from .1, still reach it.
Creating namespaces needs root (CAP_NET_ADMIN); without it :class:`HostsUnavailable` says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class HostsUnavailable(Exception):
    """Network namespaces cannot be created here."""


@dataclass(frozen=True, slots=True)
class HostPlan:
    """The names and addresses of one run's hosts."""

    tag: str  # short and unique per run: names are limited to 15 characters
    subnet: int  # the third octet of 10.213.<subnet>.0/24

    @classmethod
    def for_this_run(cls) -> HostPlan:
        pid = os.getpid()
        return cls(tag=f"ts{pid % 100000:05d}", subnet=pid % 250 + 1)

    def address(self, last: int) -> str:
        return f"10.213.{self.subnet}.{last}"

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def gateway(self) -> str:
        return self.address(1)

    @property
    def ims(self) -> str:
        return self.address(2)

    @property
    def analytics(self) -> str:
        return self.address(3)

    def host_address(self, index: int) -> str:
        """The address of the ``index``-th host (0-based): .11, .12, ..."""
        return self.address(11 + index)

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"


class NetworkHosts:
    """Creates the namespaces, bridge and links of a :class:`HostPlan`; removes them again."""

    def __init__(self, plan: HostPlan, hosts: Sequence[str]) -> None:
        self.plan = plan
        self.hosts = list(hosts)
        self._made: list[list[str]] = []  # how to undo what was made, last first

    def create(self) -> None:
        if shutil.which("ip") is None:
            raise HostsUnavailable("--hosts needs iproute2's ip command (apt-get install iproute2)")
        plan = self.plan
        try:
            self._run(["ip", "link", "add", plan.bridge, "type", "bridge"])
            self._made.append(["ip", "link", "del", plan.bridge])
        except HostsUnavailable as exc:
            raise HostsUnavailable(
                f"--hosts needs to create network namespaces (root or CAP_NET_ADMIN): {exc}"
            ) from None
        for address in (plan.gateway, plan.ims, plan.analytics):
            self._run(["ip", "addr", "add", f"{address}/24", "dev", plan.bridge])
        self._run(["ip", "link", "set", plan.bridge, "up"])
        for index, host in enumerate(self.hosts):
            ns = plan.namespace(host)
            outside, inside = f"{plan.tag}{index}a", f"{plan.tag}{index}b"
            self._run(["ip", "netns", "add", ns])
            self._made.append(["ip", "netns", "del", ns])  # takes its end of the link with it
            self._run(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside])
            self._run(["ip", "link", "set", inside, "netns", ns])
            self._run(["ip", "link", "set", outside, "master", plan.bridge, "up"])
            inside_ns = ["ip", "netns", "exec", ns]
            self._run([*inside_ns, "ip", "link", "set", "lo", "up"])
            address = f"{plan.host_address(index)}/24"
            self._run([*inside_ns, "ip", "addr", "add", address, "dev", inside])
            self._run([*inside_ns, "ip", "link", "set", inside, "up"])
            self._run([*inside_ns, "ip", "route", "add", "default", "via", plan.gateway])

    def remove(self) -> None:
        while self._made:
            subprocess.run(self._made.pop(), capture_output=True, check=False)  # noqa: S603

    def partition(self, host: str, address: str) -> None:
        """Drop every packet from ``host`` to ``address`` (until :meth:`heal`)."""
        self._in(host, ["ip", "route", "add", "blackhole", f"{address}/32"])

    def heal(self, host: str, address: str) -> None:
        self._in(host, ["ip", "route", "del", "blackhole", f"{address}/32"])

    def prefix(self, host: str) -> tuple[str, ...]:
        """The command prefix that runs a program on ``host``."""
        return ("ip", "netns", "exec", self.plan.namespace(host))

    def _in(self, host: str, command: list[str]) -> None:
        self._run([*self.prefix(host), *command])

    @staticmethod
    def _run(command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise HostsUnavailable(f"{' '.join(command)}: {done.stderr.strip()}")


def place_on_hosts(data: dict[str, Any], plan: HostPlan) -> dict[str, Any]:
    """topology.yaml's mapping with every publisher (and its dispatcher) on a host of its own,
    IMS and Analytics on their addresses on the bridge; the load balancer stays on loopback."""
    sim = data.setdefault("simulation", {})
    ims, analytics = sim.setdefault("ims", {}), sim.setdefault("analytics", {})
    ims["host"], analytics["host"] = plan.ims, plan.analytics
    data["ims"]["token_url"] = f"http://{plan.ims}:{ims.get('port', 8701)}/ims/token/v3"
    data["analytics"]["base_url"] = f"http://{plan.analytics}:{analytics.get('port', 8702)}"
    addresses = {}
    for index, publisher in enumerate(data["publishers"]):
        publisher["host"] = addresses[publisher["id"]] = plan.host_address(index)
    for dispatcher in data.get("dispatchers", []):
        dispatcher["host"] = addresses[dispatcher["publisher"]]
    return data
