"""The token library as a backend developer gets it: the docs' example run as written, and the
wheel installed alone in a new virtual environment, imported, run and type-checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import aiohttp

from tests.support.world import CLIENT_ID, GOOD_SECRET, World, start_world

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "production.md"
LIBRARY = ROOT / "lib" / "tokensim-token"
HARNESS_ONLY = ("locust", "matplotlib", "pydantic", "jinja2", "looptime", "gevent")
EXAMPLE_OUTPUT = re.compile(r"^200: 10 rows; token calls: (\d+)$")


def python_blocks(markdown: str) -> list[str]:
    """Every ```python block of a Markdown document, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


async def run_example(python: str, script: Path, world: World, cache: Path) -> str:
    env = {
        **os.environ,
        "TOKEN_URL": f"{world.ims_url}/ims/token/v3",
        "API_URL": f"{world.analytics_url}/api/testco/reports",
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": GOOD_SECRET,
        "TOKEN_CACHE": str(cache),
        "RSID": "test.rsid",
    }
    process = await asyncio.create_subprocess_exec(
        python,
        str(script),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def example_runs(python: str, script: Path, world: World, tmp: Path) -> list[int]:
    """The example three times: a cold start, a restart, after IMS revoked its token."""
    cache = tmp / "state" / "token.sealed"
    calls = []
    for revoke_first in (False, False, True):
        if revoke_first:
            async with aiohttp.ClientSession() as http:
                await http.post(f"{world.ims_url}/admin/revoke")
        line = await run_example(python, script, world, cache)
        match = EXAMPLE_OUTPUT.match(line)
        assert match is not None, line
        calls.append(int(match.group(1)))
    return calls


async def test_every_python_block_of_the_production_docs_runs(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    blocks = python_blocks(DOCS.read_text())
    assert blocks, "docs/production.md has no python example"
    world = await start_world(stack, tmp_path)
    for number, block in enumerate(blocks):
        script = tmp_path / f"example_{number}.py"
        script.write_text(block)
        assert await example_runs(sys.executable, script, world, tmp_path / str(number)) == [
            1,  # a cold start: one token call
            0,  # a restart: the sealed token, no call
            1,  # revoked: Analytics answers 401, the middleware gets a new token and retries
        ]
    assert world.analytics_stats.by_outcome["unauthorized"] == len(blocks)


CONSUMER = """
from __future__ import annotations

import aiohttp

from tokensim_token import AccessToken, ClientCredentialsTokens, TokenSettings, TokenUnavailable


async def report(url: str) -> int:
    tokens = ClientCredentialsTokens.from_env(
        token_url="https://ims.example/ims/token/v3",
        client_id="id",
        settings=TokenSettings(wait_timeout=5.0),
    )
    async with tokens, aiohttp.ClientSession(middlewares=(tokens.middleware(),)) as session:
        token: AccessToken = await tokens.get()
        assert token.fingerprint
        try:
            async with session.get(url) as response:
                return response.status
        except TokenUnavailable as exc:
            return 0 if exc.retryable else -1
"""


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = {n.split("/", 1)[0] for n in archive.namelist()}
    return {n for n in names if not n.endswith(".dist-info")}


async def test_the_wheel_alone_in_a_new_venv_imports_runs_and_type_checks(
    stack: contextlib.AsyncExitStack, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    pip = (sys.executable, "-m", "pip")
    run(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels, LIBRARY)
    run(*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels / "app", ".")
    (library,) = wheels.glob("tokensim_token-*.whl")
    (application,) = (wheels / "app").glob("tokensim-*.whl")
    assert top_level_names(library) == {"tokensim_token"}
    assert "tokensim_token/py.typed" in zipfile.ZipFile(library).namelist()
    assert top_level_names(application) == set()  # core, node, harness...: never installed

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", library)
    installed = run(python, "-m", "pip", "list", "--format=freeze").lower()
    assert "tokensim-token==" in installed
    for name in HARNESS_ONLY:
        assert f"\n{name}==" not in f"\n{installed}", f"{name} came with the library"
    assert run(python, "-c", "import tokensim_token, sys; print(sys.modules['aiohttp'].__name__)")

    world = await start_world(stack, tmp_path)
    script = tmp_path / "example.py"
    script.write_text(python_blocks(DOCS.read_text())[0])
    assert await example_runs(str(python), script, world, tmp_path) == [1, 0, 1]

    consumer = tmp_path / "consumer.py"
    consumer.write_text(CONSUMER)
    checked = run(
        Path(sys.executable).parent / "mypy",
        "--strict",
        "--no-incremental",
        "--python-executable",
        python,
        consumer,
        cwd=tmp_path,
    )
    assert "Success: no issues found in 1 source file" in checked
