"""What granian hands an app over ASGI and over RSGI, for the requests the ingress must tell apart.

The ingress serves granian's ASGI interface although RSGI costs less per request (a raw RSGI
hello answers ~20 % more requests per second than a raw ASGI one on the same granian): over RSGI
the installed granian loses facts the ingress's guarantees rest on (docs/runner.md, "Why the
ingress speaks ASGI"). This probe shows them, so the question can be asked again on each granian
upgrade: one embedded granian per interface, the same raw requests to both, and what each app
saw printed side by side.

Run: .venv/bin/python -m bench.rsgi_gaps
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.server.embed import Server

from bench.common import say
from tests.rawhttp import exchange
from tests.services import free_port

# (what the ingress must know, the raw request, whether the client then stops sending)
PROBES = [
    (
        "the path's bytes (%2F stays in its segment: tenant routing)",
        b"GET /t/a%2Fb HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
        False,
    ),
    (
        "a field value that is not UTF-8 (obs-text, passed to the guest as sent)",
        b"GET / HTTP/1.1\r\nHost: edge\r\nX-Raw: caf\xe9\r\nConnection: close\r\n\r\n",
        False,
    ),
    (
        "a chunked body cut by a malformed chunk (400, the guest never runs)",
        b"POST / HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\nZZ\r\n",
        False,
    ),
    (
        "a body shorter than its Content-Length, then the client leaves",
        b"POST / HTTP/1.1\r\nHost: edge\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc",
        True,
    ),
]


class Seen:
    """The last request as each app saw it."""

    def __init__(self) -> None:
        self.asgi = ""
        self.rsgi = ""


async def asgi_app(seen: Seen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body, complete = b"", False
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            complete = True
            break
    fields = [(k, v) for k, v in scope["headers"] if k.startswith(b"x-")]
    seen.asgi = f"raw_path {scope.get('raw_path')!r}, fields {fields}, body {body!r} " + (
        "whole" if complete else "INCOMPLETE (http.disconnect)"
    )
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class RsgiApp:
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        body = b""
        error = ""
        try:
            async for chunk in protocol:
                body += chunk
        except Exception as exc:  # what granian raises, if it does, is the finding
            error = f" then {type(exc).__name__}"
        fields = [(k, v) for k, v in scope.headers.items() if k.startswith("x-")]
        self.seen.rsgi = f"path {scope.path!r}, fields {fields}, body {body!r}{error}"
        protocol.response_empty(200, [])


@contextlib.asynccontextmanager
async def serving(app: Any, interface: Interfaces, port: int) -> AsyncIterator[None]:
    server = Server(
        app, address="127.0.0.1", port=port, interface=interface, http=HTTPModes.http1, websockets=False
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield
    finally:
        server.signal_handler_interrupt()
        await asyncio.wait_for(task, 10)


async def main() -> None:
    seen = Seen()
    asgi_port, rsgi_port = free_port(), free_port()

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asgi_app(seen, scope, receive, send)

    async with serving(asgi, Interfaces.ASGI, asgi_port), serving(RsgiApp(seen), Interfaces.RSGI, rsgi_port):
        say(f"granian {version('granian')}")
        for what, raw, leaves in PROBES:
            seen.asgi = seen.rsgi = "(the app was not called)"
            await asyncio.to_thread(exchange, asgi_port, raw, half_close=leaves, timeout=5)
            await asyncio.to_thread(exchange, rsgi_port, raw, half_close=leaves, timeout=5)
            print(f"{what}:\n  ASGI: {seen.asgi}\n  RSGI: {seen.rsgi}")


if __name__ == "__main__":
    asyncio.run(main())
