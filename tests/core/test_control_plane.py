"""Control planes answer local tools, not web pages: a foreign Host (DNS rebinding) is refused
on every route, a cross-site request that changes state is refused, and plain requests from
local tools pass. Real servers: a node, the balancer's control plane and the simulated IMS."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import aiohttp
import pytest

from core.control_plane import ControlPlaneGuard, _host_name
from tests.support.edge import edge_estate
from tests.support.world import start_world

FOREIGN = {"Host": "attacker.example:8080"}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}


async def _status(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str] | None = None
) -> int:
    async with http.request(method, url, headers=headers, data=b"{}") as reply:
        await reply.read()
        return reply.status


@pytest.mark.looptime
async def test_a_nodes_status_and_metrics_refuse_a_foreign_host(
    stack: contextlib.AsyncExitStack,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="core.control_plane")
    world = await start_world(stack, tmp_path)
    node = await world.start_node(world.topology())
    for path in ("/status", "/metrics"):
        assert await _status(http, "GET", node.url + path) == 200
        assert await _status(http, "GET", node.url + path, {"Host": "localhost:1"}) == 200
        assert await _status(http, "GET", node.url + path, FOREIGN) == 403
    # the pages are not control plane: a dispatcher forwards the site's own Host to them
    assert await _status(http, "GET", node.url + "/static/site.css", FOREIGN) == 200
    async with http.get(node.url + "/metrics") as reply:
        metrics = await reply.text()
    assert (
        "tokensim_node_control_plane_refused_total{reason=\"Host is not this control plane's "
        'address"} 2.0' in metrics
    )


async def test_the_balancers_control_plane_refuses_web_pages(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with edge_estate(tmp_path) as estate:
        admin = estate.admin
        assert await _status(http, "GET", admin + "/lb/status") == 200
        assert await _status(http, "GET", admin + "/lb/status", FOREIGN) == 403
        deregister = admin + "/lb/targets/d1/deregister"
        assert await _status(http, "POST", deregister, CROSS_SITE) == 403
        assert await _status(http, "POST", deregister, {"Sec-Fetch-Site": "same-site"}) == 403
        assert await _status(http, "POST", deregister, {"Origin": "http://evil.test"}) == 403
        target = estate.balancer.pool.get("d1")
        assert target is not None
        assert target.draining_until is None  # none of them got through
        own = {"Origin": admin, "Sec-Fetch-Site": "same-origin"}
        assert await _status(http, "POST", deregister, own) == 200  # its own page may
        assert await _status(http, "POST", admin + "/lb/targets/d1/register") == 200  # curl may
        async with http.get(admin + "/lb/status", headers={"Accept": "application/json"}) as reply:
            refused = (await reply.json())["control_plane_refused"]
        assert sum(refused.values()) == 4


@pytest.mark.looptime
async def test_the_simulated_services_admin_refuses_web_pages(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    faults = world.ims_url + "/admin/faults"
    body = {"Content-Type": "application/json"}
    assert await _status(http, "PUT", faults, {**body, **CROSS_SITE}) == 403
    assert await _status(http, "PUT", faults, {**body, **FOREIGN}) == 403
    assert await _status(http, "POST", world.ims_url + "/admin/revoke", CROSS_SITE) == 403
    assert await _status(http, "PUT", faults, body) == 200


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1:8080", "127.0.0.1"),
        ("[::1]:80", "::1"),
        ("LOCALHOST", "localhost"),
        ("[::1", None),
        ("a:b", None),
        ("[::1]x", None),
        ("", None),
    ],
)
def test_host_names(host: str, name: str | None) -> None:
    assert _host_name(host) == name


def test_names_configured_for_the_service_are_its_own() -> None:
    guard = ControlPlaneGuard(["node-1.internal"])
    assert guard._own_host("node-1.internal:4502")
    assert guard._own_host("10.0.0.7:4502")
    assert not guard._own_host("node-1.internal.attacker.example:4502")
