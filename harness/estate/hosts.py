"""Several hosts on one Linux machine: each publisher, with its dispatcher, in a network
namespace of its own, so that a node can be cut off from IMS or Analytics (a partition)
rather than only killed.

The layout, for one run's tag (``ts`` and 8 random hex digits) and a free /24 of 10.213.x.0::

    root namespace: bridge <tag>br with .1 (gateway: the load balancer's public listener,
                    Locust's master, Redis with --store redis), .2 (IMS), .3 (Analytics);
                    control planes stay on 127.0.0.1
    namespace <tag>-p1: veth <tag>0b with .11 (its peer <tag>0a on the bridge), default
                    route via .1; p1 and d1 listen there
    namespace <tag>-p2: veth <tag>1b with .12 ...

A partition is a blackhole route inside a host's namespace to one address (IMS's or
Analytics's): packets are dropped silently, as in a real partition, so the node sees timeouts,
not refusals, while its users, coming through the load balancer from .1, still reach it.
Locust's workers (``--workers N``) run inside the hosts' namespaces, one host after another,
and reach the master and the balancer over the bridge, as from other machines.
Creating namespaces needs root (CAP_NET_ADMIN); without it :class:`HostsUnavailable` says so.

Names are unique per run, not per process: one process may run several ``--hosts`` runs, and
the kernel destroys a deleted namespace (and the veth inside it) only when its last process
has gone. Before it makes anything a run writes a record (its tag, owner pid and the owner's
start time) under :data:`RECORDS`; a run that finds names of this kind whose owner is no longer
alive (a harness killed with SIGKILL) removes them first and says so in one log line.
:meth:`NetworkHosts.remove` deletes every link it made (the outside end of each veth pair,
which takes the inside end with it), the bridge and the namespaces, and waits until the kernel
no longer lists them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.topology import Topology
from harness.errors import HostsUnavailable

logger = logging.getLogger(__name__)

# Where runs record that they own a tag: /run is a tmpfs, emptied at boot like the links.
RECORDS = Path("/run/tokensim-hosts")
# A tag, then what names carry it: the bridge (br), the veth ends (<index>a|b), namespaces (-id).
# (Runs before 2026-12-03 had 5 hex digits: their leftovers are still recognised.)
TAG = re.compile(r"^(ts(?:[0-9a-f]{8}|[0-9a-f]{5}))(?:br|\d+[ab]|-.+)$")
GONE_WITHIN = 5.0  # seconds the kernel gets to forget a removed link or namespace


@dataclass(frozen=True, slots=True)
class HostPlan:
    """The names and addresses of one run's hosts."""

    # ts + 8 random hex digits, new for every run. Link names are limited to 15 characters
    # (IFNAMSIZ - 1): <tag>99a is 13. With 5 digits (20 bits), 50 plans shared a tag about
    # once in 800 (the birthday bound: 50 x 49 / 2 / 2^20), and a test met it.
    tag: str
    subnet: int  # the third octet of 10.213.<subnet>.0/24

    @classmethod
    def new(cls) -> HostPlan:
        """A tag of its own, on a /24 that no interface on this machine uses yet."""
        taken = _subnets_in_use()
        free = [n for n in range(1, 255) if n not in taken]
        if not free:
            raise HostsUnavailable("every 10.213.x.0/24 is in use; remove old bridges first")
        return cls(tag=f"ts{secrets.token_hex(4)}", subnet=secrets.choice(free))

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

    def place(self, topology: Topology) -> Topology:
        """``topology`` with every publisher (and its dispatcher) on a host of its own, IMS and
        Analytics on their addresses on the bridge, and the load balancer's public listener on
        the gateway, where visitors on the hosts (Locust's workers) reach it; its control plane
        stays on loopback."""
        addresses = {p.id: self.host_address(i) for i, p in enumerate(topology.publishers)}
        placed = topology.on_hosts(ims=self.ims, analytics=self.analytics, publishers=addresses)
        if placed.lb is None:
            return placed
        return placed.evolve(lb=placed.lb.evolve(host=self.gateway))

    def veth(self, index: int) -> tuple[str, str]:
        """The two ends of the ``index``-th host's link: on the bridge, and inside the host."""
        return f"{self.tag}{index}a", f"{self.tag}{index}b"


class NetworkHosts:
    """Creates the namespaces, bridge and links of a :class:`HostPlan`; removes them again."""

    def __init__(self, plan: HostPlan, hosts: Sequence[str]) -> None:
        self.plan = plan
        self.hosts = list(hosts)

    def create(self) -> None:
        if shutil.which("ip") is None:
            raise HostsUnavailable("--hosts needs iproute2's ip command (apt-get install iproute2)")
        plan = self.plan
        _write_record(plan.tag)  # before anything is made: a sweep by another run spares it
        try:
            self._run(["ip", "link", "add", plan.bridge, "type", "bridge"])
        except HostsUnavailable as exc:
            _forget(plan.tag)
            raise HostsUnavailable(
                f"--hosts needs to create network namespaces (root or CAP_NET_ADMIN): {exc}"
            ) from None
        try:
            remove_leftovers()
            self._make(plan)
        except BaseException:
            self.remove()
            raise

    def _make(self, plan: HostPlan) -> None:
        for address in (plan.gateway, plan.ims, plan.analytics):
            self._run(["ip", "addr", "add", f"{address}/24", "dev", plan.bridge])
        self._run(["ip", "link", "set", plan.bridge, "up"])
        for index, host in enumerate(self.hosts):
            ns = plan.namespace(host)
            outside, inside = plan.veth(index)
            self._run(["ip", "netns", "add", ns])
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
        """Delete everything this run made, and wait until the kernel lists none of it."""
        _remove_tag(self.plan.tag)

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
        done = _run(command, check=False)
        if done.returncode != 0:
            raise HostsUnavailable(f"{' '.join(command)}: {done.stderr.strip()}")


def ours_listed() -> tuple[list[str], list[str]]:
    """The links and namespaces of this kind that the kernel lists now (any run's)."""
    links = [link["ifname"] for link in _ip_json("link", "show") if TAG.match(link["ifname"])]
    spaces = [ns["name"] for ns in _ip_json("netns", "list") if TAG.match(ns["name"])]
    return links, spaces


def remove_leftovers() -> list[str]:
    """Remove what runs that did not stop cleanly left behind; the tags removed.

    A tag is left over when no record names it, or its record's owner has exited. Names of a
    run that is still going are left alone, so two runs on one machine do not interfere.
    """
    links, spaces = ours_listed()
    tags = {_tag_of(name) for name in [*links, *spaces]}
    tags |= {record.stem for record in _records()}
    dead = sorted(tag for tag in tags if not _owner_alive(tag))
    removed = [_remove_tag(tag) for tag in dead]
    if dead:
        logger.warning(
            "removed what %d earlier --hosts run(s) left behind (%s): %d link(s), %d namespace(s)",
            len(dead),
            ", ".join(dead),
            sum(links for links, _ in removed),
            sum(spaces for _, spaces in removed),
        )
    return dead


def _tag_of(name: str) -> str:
    match = TAG.match(name)
    assert match is not None  # only names that matched TAG are listed
    return match.group(1)


def _remove_tag(tag: str) -> tuple[int, int]:
    """Delete one run's links (outside ends: each takes its peer along), bridge and
    namespaces (after stopping any process still in them), then wait until none is listed."""
    links, spaces = ours_listed()
    mine_links = [n for n in links if _tag_of(n) == tag and not n.endswith("b")]
    mine_spaces = [n for n in spaces if _tag_of(n) == tag]
    for ns in mine_spaces:
        for pid in _run(["ip", "netns", "pids", ns], check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    for name in sorted(mine_links, key=lambda n: n.endswith("br")):  # the bridge last
        _run(["ip", "link", "del", name], check=False)
    for ns in mine_spaces:
        _run(["ip", "netns", "del", ns], check=False)
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        links, spaces = ours_listed()
        left = [n for n in [*links, *spaces] if _tag_of(n) == tag]
        if not left:
            break
        if time.monotonic() > deadline:
            raise HostsUnavailable(f"could not remove {', '.join(left)}")
        for name in left:  # a veth whose namespace was still busy: delete it from here
            if name in links:
                _run(["ip", "link", "del", name], check=False)
        time.sleep(0.05)
    _forget(tag)
    return len(mine_links), len(mine_spaces)


def _forget(tag: str) -> None:
    (_records_folder() / f"{tag}.json").unlink(missing_ok=True)


def _records_folder() -> Path:
    return RECORDS if os.access(RECORDS.parent, os.W_OK) else Path("/tmp/tokensim-hosts")  # noqa: S108


def _records() -> list[Path]:
    folder = _records_folder()
    return sorted(folder.glob("ts*.json")) if folder.is_dir() else []


def _write_record(tag: str) -> None:
    folder = _records_folder()
    folder.mkdir(mode=0o700, exist_ok=True)
    record = {"pid": os.getpid(), "started": _start_time(os.getpid())}
    (folder / f"{tag}.json").write_text(json.dumps(record))


def _owner_alive(tag: str) -> bool:
    try:
        record = json.loads((_records_folder() / f"{tag}.json").read_text())
        pid, started = int(record["pid"]), record["started"]
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no record: made by a run that never wrote one, or half-removed
    return started is not None and _start_time(pid) == started


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot): tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _subnets_in_use() -> set[int]:
    taken = set()
    for link in _ip_json("addr", "show"):
        for info in link.get("addr_info", []):
            match = re.match(r"^10\.213\.(\d+)\.", str(info.get("local", "")))
            if match:
                taken.add(int(match.group(1)))
    return taken


def _ip_json(*command: str) -> list[dict[str, Any]]:
    if shutil.which("ip") is None:
        return []
    done = _run(["ip", "-j", *command], check=False)
    try:
        listed = json.loads(done.stdout) if done.stdout.strip() else []
    except ValueError:
        return []
    return [item for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []


def _run(command: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=check)  # noqa: S603
