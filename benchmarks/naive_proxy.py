"""The proxy people write first: aiohttp in, aiohttp out, round robin, nothing else.

``python -m benchmarks.naive_proxy --port 9000 --targets http://127.0.0.1:1,...``. It is the
yardstick the edge issue quotes (about 0.3x HAProxy on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools

import aiohttp
from aiohttp import web


def create_app(targets: list[str]) -> web.Application:
    rotation = itertools.cycle(targets)
    app = web.Application()
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession() as s:
            app[session_key] = s
            yield

    async def forward(request: web.Request) -> web.Response:
        async with request.app[session_key].get(next(rotation) + request.path_qs) as r:
            return web.Response(status=r.status, body=await r.read(), content_type=r.content_type)

    app.cleanup_ctx.append(session)
    app.router.add_get("/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--targets", required=True)
    args = parser.parse_args()
    web.run_app(
        create_app(args.targets.split(",")),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
