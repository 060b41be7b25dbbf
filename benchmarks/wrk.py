"""Run ``wrk`` (Debian package ``wrk``) and read its figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Replays the session cookie like a browser: the first Set-Cookie is sent on every request.
STICKY_SCRIPT = """
local cookie = nil
response = function(status, headers, body)
  if cookie == nil then
    local set = headers["Set-Cookie"] or headers["set-cookie"]
    if set then cookie = set:match("^([^;]+)") end
  end
end
request = function()
  if cookie then return wrk.format("GET", nil, {["Cookie"] = cookie}) end
  return wrk.format("GET")
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, *, connections: int, seconds: float, cpu: int | None = None, threads: int = 1
) -> WrkResult:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "sticky.lua"
        script.write_text(STICKY_SCRIPT)
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        out = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 60
        )
    return parse(out.stdout)


def parse(text: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return WrkResult(
        requests_per_second=rps,
        p50_ms=_latency(text, "50%"),
        p99_ms=_latency(text, "99%"),
        errors=errors + (int(non2xx.group(1)) if non2xx else 0),
    )


def _latency(text: str, percentile: str) -> float:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {percentile} latency in wrk's output")
    return float(match.group(1)) * _UNITS[match.group(2)]
