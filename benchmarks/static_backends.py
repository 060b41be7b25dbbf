"""Backends that are never the bottleneck: HAProxy answering a fixed top-pages reply.

Both balancers are measured in front of the same three of these, so the balancer is the only
thing that differs.
"""

from __future__ import annotations

import json

BODY = json.dumps(
    {
        "node": "p",
        "pages": [{"page": f"/content/site/en/page-{i}", "visits": 1000 - i} for i in range(10)],
        "fetched_at": "2026-11-23T00:00:00+00:00",
        "stale": False,
    }
)


def backend_config(ports: list[int]) -> str:
    lines = [
        "global",
        "    nbthread 1",
        "    maxconn 4000",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "",
    ]
    for i, port in enumerate(ports, start=1):
        body = BODY.replace('"node": "p"', f'"node": "p{i}"').replace('"', '\\"')
        lines += [
            f"frontend p{i}",
            f"    bind 127.0.0.1:{port}",
            f'    http-request return status 200 content-type application/json string "{body}" '
            f"hdr X-Publisher p{i}",
            "",
        ]
    return "\n".join(lines)
