"""A load run starts on a warmed-up estate: every publisher holds a report to show, not merely
an answer to its first call (a failed first call leaves it serving "no report yet")."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from harness.estate.control import EstateControl
from harness.estate.processes import ServiceSpec
from tests.support.world import get_json, start_world
from upstream.analytics.app import FAULTS


async def test_the_wait_for_first_reports_outlasts_a_failed_first_call(
    stack: contextlib.AsyncExitStack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    world = await start_world(stack, tmp_path)
    world.analytics[FAULTS].update({"outage": True})  # the first call fails (503)
    node = await world.start_node(world.topology(analytics={"report_refresh": 1800}))
    port = urlsplit(node.url).port
    assert port is not None
    control = EstateControl(
        {"p1": ServiceSpec(id="p1", module="node", args=(), host="127.0.0.1", port=port)}, http
    )
    status: dict[str, int] = {}
    while not status:  # the first call has been answered, with a failure
        _, body = await get_json(http, f"{node.url}/status")
        status = body["reports"]
    assert status == {"unavailable": 1}
    code, _ = await get_json(http, f"{node.url}/api/top-pages")
    assert code == 503  # what a visitor would get now
    assert await control.wait_for_first_reports(limit=1.0) == math.inf

    world.analytics[FAULTS].update({"outage": False})  # the retry (1 s, then 2 s) answers
    waited = await control.wait_for_first_reports(limit=30.0)
    assert waited < 30.0
    code, _ = await get_json(http, f"{node.url}/api/top-pages")
    assert code == 200
