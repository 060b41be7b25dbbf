"""``python -m benchmarks [--seconds N]`` (``make bench``): print and save the figures.

Every figure is measured with its baseline in the same run and printed as a ratio; absolute
numbers from this kind of machine move by up to 2x between runs, ratios much less.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import estate, lb, load_generator, tokens, virtual
from benchmarks.figures import Figure, markdown
from benchmarks.processes import PIN
from benchmarks.wrk import available as wrk_available
from lb.main import find_haproxy


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run (default 5)")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()
    haproxy = find_haproxy()
    if not wrk_available() or haproxy is None:
        print(
            "make bench needs wrk and haproxy (Debian packages wrk, haproxy): "
            "apt-get install -y wrk haproxy",
            file=sys.stderr,
        )
        raise SystemExit(2)
    started = time.monotonic()
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    for name, section in (
        ("tokens", lambda: tokens.run()),
        ("estate", lambda: estate.run(args.seconds)),
        ("lb", lambda: lb.run(haproxy, args.seconds)),
        ("load generator", lambda: load_generator.run(args.seconds)),
        ("virtual", lambda: virtual.run()),
    ):
        print(f"benchmarks: {name}...", file=sys.stderr, flush=True)
        section_figures, raw[name] = section()
        figures += section_figures
    elapsed = time.monotonic() - started
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = args.out / f"bench-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    header = (
        f"tokensim benchmarks, {stamp}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {_haproxy_version(haproxy)}; "
        f"took {elapsed:.0f} s.\n"
        f"Load: wrk (1 thread, replaying the session cookie), {args.seconds:g} s per run; "
        f"{_pinning()}. Token figures: the node's token code in one process against the "
        f"simulated IMS in its own.\n"
    )
    table = markdown(figures)
    (folder / "report.md").write_text(header + "\n" + table)
    (folder / "raw.json").write_text(json.dumps(raw, indent=2, default=_plain))
    print(header)
    print(table)
    print(f"saved to {folder}")
    missed = [f for f in figures if f.met is False]
    if missed:
        print(f"{len(missed)} figure(s) missed their target", file=sys.stderr)


def _pinning() -> str:
    if not PIN:
        return "no pinning"
    return (
        "the balancer or node measured alone on core 0, wrk and everything else on core 1 "
        "(the whole-chain and start-up rows are not pinned)"
    )


def _haproxy_version(haproxy: str) -> str:
    out = subprocess.run([haproxy, "-v"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].split(" - ")[0] if out else "HAProxy"


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot save {type(value).__name__}")


if __name__ == "__main__":
    main()
