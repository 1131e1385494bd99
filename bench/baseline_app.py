"""The ingress baseline: a bare Litestar handler answering what the hello guest answers, on the same server.

It is served exactly as edgefn serves its ingress (granian's embedded Server in one asyncio loop,
ASGI, one worker, no access log), so the ratio measures edgefn's per-request work, nothing else.

Run: .venv/bin/python -m bench.baseline_app PORT
"""

from __future__ import annotations

import asyncio
import sys

from litestar import Litestar, MediaType, get

from edgehost.serving import Listener, run, serve

BODY = "Hello from edgefn!\n"


@get("/hello", media_type=MediaType.TEXT, sync_to_thread=False)
def hello() -> str:
    return BODY


def build() -> Litestar:
    return Litestar(route_handlers=[hello], logging_config=None, debug=False, openapi_config=None)


async def main(port: int) -> None:
    async with serve([Listener("baseline", build(), "127.0.0.1", port)]):
        await asyncio.Event().wait()


if __name__ == "__main__":
    run(main(int(sys.argv[1])))
