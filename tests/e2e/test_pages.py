"""What a person sees, in a real browser (Debian's Chromium, driven by Playwright): the report
``make demo`` writes, the balancer's status page and the site's home page.

The report comes from ``python -m harness demo --quick``: every step of the main job, smaller,
as a subprocess; this also tests that the demo prints its progress and the answers. Skipped
without Chromium, unless TOKENSIM_REQUIRE_CHROMIUM is set (CI sets it: .ci/run installs it).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from harness.estate.control import EstateControl
from harness.estate.processes import child_environment, services_of
from harness.estate.supervisor import Supervisor
from harness.load.derive import derive_topology
from tests.support.topologies import load_options, shipped

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1280
STAMP = "%Y-%m-%d %H:%M:%S,%f"  # a service's log line: "p1 | 2026-12-03 12:34:41,581 INFO ..."

if CHROMIUM is None and os.environ.get("TOKENSIM_REQUIRE_CHROMIUM"):
    raise RuntimeError("TOKENSIM_REQUIRE_CHROMIUM is set but chromium is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium (apt-get install chromium)"
)

NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
IMAGES_LOADED = (
    "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"
)
BROKEN_ANCHORS = (
    "Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
    ".map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id))"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "demo", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "TOKENSIM_CLIENT_SECRET": "demo-secret"},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (page,) = out.glob("demo-*/report.html")
    return page, done.stdout


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.mark.timeout(420)
def test_the_demo_prints_its_progress_and_every_answer(demo: tuple[Path, str]) -> None:
    _, stdout = demo
    for step in range(1, 7):
        assert f"[{step}/6] " in stdout
    assert "[1/6] real processes, 2 at a time" in stdout
    answers = stdout.split("\nAnswers (", 1)[1]
    for question in (
        "Where do we keep the token?",
        "Is there a refresh token?",
        "Do we need sticky sessions?",
        "One token per publisher",
        "What breaks first as the estate grows?",
        "And on AEM as a Cloud Service?",
        "Where does each answer flip?",
    ):
        assert f"* {question}" in answers
    assert "Not measured" not in answers  # the quick plan runs every step
    assert "](#" not in answers  # links are words in a terminal
    assert "report: " in stdout


def test_two_real_runs_at_a_time_never_start_their_estates_together(
    demo: tuple[Path, str],
) -> None:
    """The demo runs two estates at a time; the second takes its ports only once the first
    listens on all of its own (two free-port probes at once could pick the same port)."""
    page, _ = demo
    spans = []
    for log in sorted((page.parent / "real" / "runs").glob("expiry-storm-*/estate.log")):
        stamps = [
            dt.datetime.strptime(" ".join(line.split("|", 1)[1].split()[:2]), STAMP)
            for line in log.read_text().splitlines()
            if " listening on http" in line
        ]
        spans.append((min(stamps), max(stamps)))
    assert len(spans) == 3  # per-node and shared, per-node again with stickiness off
    spans.sort()
    for (_, last), (first, _) in itertools.pairwise(spans):
        assert first >= last  # the next estate's first service after this one's last
    ends = [end for _, end in spans]
    starts = [start for start, _ in spans]
    assert starts[1] < ends[0] + dt.timedelta(seconds=10)  # and it did not wait for the run


@pytest.mark.timeout(420)
async def test_the_report_reads_at_1280_pixels(demo: tuple[Path, str], browser: object) -> None:
    page_path, _ = demo
    page = await browser.new_page(viewport={"width": WIDTH, "height": 900})  # type: ignore[attr-defined]
    await page.goto(page_path.as_uri())
    assert await page.evaluate(NO_OVERFLOW), "the report scrolls sideways at 1280 px"
    assert await page.locator("#answers").is_visible()
    answers = page.locator(".answers > section")
    assert await answers.count() == 7
    assert await page.locator(".answers > section.missing").count() == 0
    first = await answers.first.bounding_box()
    assert first is not None
    assert first["y"] < 900 * 1.5  # near the top, not after the tables
    assert await page.evaluate("document.images.length") >= 10
    assert await page.evaluate(IMAGES_LOADED) == 0, "an image did not load"
    assert await page.evaluate(BROKEN_ANCHORS) == []
    text = await page.locator("main").inner_text()
    assert "**" not in text  # Markdown was rendered, not shown
    assert "](#" not in text
    for table in await page.locator("table").all():
        box = await table.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= WIDTH


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[EstateControl]:
    """The whole estate from topology.yaml, on free ports."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    topology, path = derive_topology(
        shipped(), tmp_path, load_options(free_ports=True, lifetime=60), state
    )
    env, _ = child_environment(topology, os.environ)
    supervisor = Supervisor(env, log=None)
    specs = services_of(topology, path)
    await supervisor.start_all(specs, timeout=30)
    try:
        async with aiohttp.ClientSession() as http:
            yield EstateControl({s.id: s for s in specs}, http, supervisor, topology=topology)
    finally:
        await supervisor.stop_all()


@pytest.mark.timeout(120)
async def test_the_balancer_status_page_and_the_home_page(
    estate: EstateControl, browser: object
) -> None:
    page = await browser.new_page(viewport={"width": WIDTH, "height": 900})  # type: ignore[attr-defined]
    reply = await page.goto(f"{estate.admin_url('lb')}/lb/status")
    assert reply is not None
    assert reply.status == 200
    assert await page.evaluate(NO_OVERFLOW)
    status = await page.locator("body").inner_text()
    for dispatcher in ("d1", "d2", "d3"):
        assert dispatcher in status
    assert "None" not in status

    home = estate.url("lb")
    reply = await page.goto(home + "/")
    assert reply is not None
    assert reply.status == 200
    assert await page.evaluate(NO_OVERFLOW)
    assert "most visited" in (await page.locator("body").inner_text()).lower()
    # The component fills its table after the page loaded (it fetches the widget's data):
    # wait for its footer, written on success and on failure, before reading the links.
    await page.wait_for_function(
        "document.querySelector('#top-pages footer').textContent !== ''", timeout=60_000
    )
    links = await page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    local = [link for link in links if link.startswith(home)]
    assert local, "the home page links to the site's pages"
    for link in local:  # every link a visitor can follow answers, through the balancer
        reply = await page.goto(link)
        assert reply is not None
        assert reply.status == 200, link
