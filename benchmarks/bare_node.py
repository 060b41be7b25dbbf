"""The baseline for the node: a bare aiohttp handler returning the node's reply (the same JSON
bytes and headers), served the same way (``core.service.serve``: same access log, backlog and
event loop), and nothing else.

``python -m benchmarks.bare_node --port 9000 --body FILE [--header "NAME: VALUE" ...]``
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from aiohttp import web

from core.service import serve


def create_app(body: bytes, headers: dict[str, str]) -> web.Application:
    async def top_pages(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/api/top-pages", top_pages)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="the reply's body")
    parser.add_argument("--header", action="append", default=[], help="NAME: VALUE, repeatable")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    app = create_app(args.body.read_bytes(), headers)
    asyncio.run(serve(app, host="127.0.0.1", port=args.port, name="bare"))


if __name__ == "__main__":
    main()
