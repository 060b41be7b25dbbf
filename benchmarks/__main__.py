"""``python -m benchmarks [--seconds N]`` (``make bench``): print and save the figures."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import sys
from pathlib import Path

from benchmarks import lb
from benchmarks.wrk import available as wrk_available


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per wrk run (default 8)")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()
    if not wrk_available() or shutil.which("haproxy") is None:
        print(
            "make bench needs wrk and haproxy (Debian packages wrk, haproxy): "
            "apt-get install -y wrk haproxy",
            file=sys.stderr,
        )
        raise SystemExit(2)
    rows = lb.run(args.seconds)
    table = lb_table(rows)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = args.out / f"bench-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    header = (
        f"tokensim benchmarks, {stamp}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
        f"Load: wrk, 1 thread, replaying the session cookie; "
        f"{'balancer alone on core 0, wrk and backends on core 1' if lb.PIN else 'no pinning'}.\n"
        f"Backends: 3 HAProxy frontends returning a fixed top-pages reply (never the bottleneck).\n"
    )
    (folder / "report.md").write_text(header + "\n" + table)
    (folder / "raw.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    print(header)
    print(table)
    print(f"saved to {folder}")


def lb_table(rows: list[lb.Row]) -> str:
    by_name = {r.name: r for r in rows}
    direct = by_name["direct to one backend"]
    haproxy = by_name["HAProxy (1 thread)"]
    lines = [
        f"| path | req/s at {lb.THROUGHPUT_CONNECTIONS} conns | vs HAProxy | "
        f"p50 / p99 at {lb.LATENCY_CONNECTIONS} conns (ms) | added p99 vs direct (ms) | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.throughput.requests_per_second / haproxy.throughput.requests_per_second
        added = r.latency.p99_ms - direct.latency.p99_ms
        lines.append(
            f"| {r.name} | {r.throughput.requests_per_second:,.0f} | {ratio:.2f}x | "
            f"{r.latency.p50_ms:.2f} / {r.latency.p99_ms:.2f} | {added:+.2f} | "
            f"{r.throughput.errors + r.latency.errors} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
