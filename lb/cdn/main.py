"""Run the CDN: write the VCL generated from topology.yaml into the state folder, check it
with ``varnishd -C``, then become ``varnishd`` (exec, in the foreground), so that the
launcher supervises and stops it as any other service."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

from tokensim_token.files import make_private_folder, write_atomic

from core.topology import Topology
from lb.cdn.vcl import render
from lb.errors import EngineError

SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def find_varnishd() -> str | None:
    return shutil.which("varnishd") or shutil.which("varnishd", path=os.pathsep.join(SBIN))


def run(topology: Topology) -> NoReturn:
    cdn = topology.cdn
    if cdn is None:
        raise EngineError("cdn: topology.yaml has no cdn section")
    binary = find_varnishd()
    if binary is None:
        raise EngineError("cdn.engine: varnish is not installed (apt-get install varnish)")
    folder = Path(topology.token.state_dir) / "cdn"
    make_private_folder(folder)
    vcl = folder / "cdn.vcl"
    write_atomic(vcl, render(topology).encode())
    work = folder / "varnish"
    checked = subprocess.run(  # noqa: S603 (our binary, our file)
        [binary, "-C", "-j", "none", "-f", str(vcl), "-n", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:
        raise EngineError(f"varnishd refused {vcl}: {checked.stderr.strip()[:400]}")
    print(f"cdn: running varnishd with {vcl} on {cdn.url}", flush=True)
    os.execv(  # noqa: S606 (our binary)
        binary,
        [
            binary,
            "-F",  # foreground: the launcher supervises it
            "-j",
            "none",  # no privilege separation: it runs as the estate's user
            "-n",
            str(work),
            "-a",
            f"{cdn.host}:{cdn.port}",
            "-f",
            str(vcl),
            "-s",
            f"malloc,{cdn.storage}m",
        ],
    )
