"""The ingress baselines: what the hello guest answers, served with as little as each layer allows.

- `litestar`: a bare Litestar handler;
- `asgi`: a raw ASGI callable, no framework (the floor for a Python ASGI ingress on granian);
- `rsgi`: the same on granian's RSGI interface (the floor for any Python ingress on granian).

Each is served exactly as edgefn serves its ingress (granian's embedded Server in one uvloop loop,
one worker, HTTP/1, the same connection limits, no access log), so the ratios measure edgefn's
per-request work, nothing else. Every one answers `GET /hello` with the guest's 200, its
`content-type: text/plain` and its body; any other path gets 404.

With WORKERS > 1, the raw ASGI callable is served as a multi-worker runner serves its ingress
(edgehost/runner/supervisor.py): granian's MPServer spawning WORKERS processes, with the same
options. It is the floor a runner's workers scale on (bench/scaling.py).

Run: .venv/bin/python -m bench.baseline_app PORT [litestar|asgi|rsgi] [WORKERS]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from typing import Any

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import MPServer
from granian.server.embed import Server
from litestar import Litestar, MediaType, get

from edgehost.serving import ConnectionLimits, Listener, run, serve, wait_listening

BODY = "Hello from edgefn!\n"
_BODY = BODY.encode()
KINDS = ("litestar", "asgi", "rsgi")


@get("/hello", media_type=MediaType.TEXT, sync_to_thread=False)
def hello() -> str:
    return BODY


def build() -> Litestar:
    return Litestar(route_handlers=[hello], logging_config=None, debug=False, openapi_config=None)


_ASGI_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(_BODY)).encode())]
_ASGI_NOT_FOUND = [(b"content-length", b"0")]


async def raw_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI 3 (HTTP and lifespan), nothing else: one dict per message, as the spec requires."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    found = scope["path"] == "/hello"
    await send(
        {
            "type": "http.response.start",
            "status": 200 if found else 404,
            "headers": _ASGI_HEADERS if found else _ASGI_NOT_FOUND,
        }
    )
    await send({"type": "http.response.body", "body": _BODY if found else b""})


_RSGI_HEADERS = [("content-type", "text/plain")]


async def raw_rsgi(scope: Any, protocol: Any) -> None:
    """granian's RSGI: the response in one call (granian adds Content-Length)."""
    if scope.path == "/hello":
        protocol.response_bytes(200, _RSGI_HEADERS, _BODY)
    else:
        protocol.response_empty(404, [])


async def serve_rsgi(port: int) -> None:
    """The RSGI callable on granian's embedded Server, with the options the ingress gets."""
    server = Server(
        raw_rsgi,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI,
        log_enabled=False,
        websockets=False,
        **ConnectionLimits().granian_options(),
    )
    task = asyncio.create_task(server.serve())
    await wait_listening("127.0.0.1", port)
    await task


def serve_workers(port: int, workers: int) -> None:
    """The raw ASGI callable in `workers` spawned processes, with the options a multi-worker runner
    gives granian's MPServer (only the callable differs); until SIGINT/SIGTERM."""
    multiprocessing.set_start_method("spawn", force=True)
    MPServer(
        "bench.baseline_app:raw_asgi",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        websockets=False,
        **ConnectionLimits().granian_options(),
        log_level=LogLevels.warning,
    ).serve()


async def main(port: int, kind: str) -> None:
    if kind == "rsgi":
        await serve_rsgi(port)
        return
    app = build() if kind == "litestar" else raw_asgi
    async with serve([Listener("baseline", app, "127.0.0.1", port)]):
        await asyncio.Event().wait()


if __name__ == "__main__":
    kind = sys.argv[2] if len(sys.argv) > 2 else "litestar"
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if kind not in KINDS:
        raise SystemExit(f"kind must be one of {', '.join(KINDS)}")
    if workers > 1 and kind != "asgi":
        raise SystemExit("only the asgi kind runs in several workers")
    if workers > 1:
        serve_workers(int(sys.argv[1]), workers)
    else:
        run(main(int(sys.argv[1]), kind))
