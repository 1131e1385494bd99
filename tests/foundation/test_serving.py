"""Listeners: a node listener holds a whole fleet's watch long-polls at once."""

from __future__ import annotations

import asyncio
from typing import Any

from edgehost.serving import NODE_BACKLOG, Listener, serve
from tests.services import free_port

PARKED = 300  # above granian's default of 128 requests in flight per listener


class Parking:
    """An ASGI app whose requests all wait until released, counting how many are inside it."""

    def __init__(self) -> None:
        self.inside = 0
        self.all_in = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.inside += 1
        if self.inside == PARKED:
            self.all_in.set()
        await self.release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _request(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /watch HTTP/1.1\r\nhost: x\r\n\r\n")
    status = await reader.readline()
    writer.close()
    return status


async def test_the_node_listener_holds_hundreds_of_requests_in_flight() -> None:
    app, port = Parking(), free_port()
    async with serve([Listener("node", app, "127.0.0.1", port, backlog=NODE_BACKLOG)]):
        requests = [asyncio.create_task(_request(port)) for _ in range(PARKED)]
        await asyncio.wait_for(app.all_in.wait(), 60)  # with 128 in flight at most, never set
        app.release.set()
        statuses = await asyncio.gather(*requests)
    assert all(s.startswith(b"HTTP/1.1 204") for s in statuses)


def test_serving_processes_run_on_uvloop() -> None:
    """`edgefn dev` and `edgefn serve` run on the loop granian's own workers pick (bench: cheaper)."""
    import uvloop

    from edgehost.serving import run

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type()) is uvloop.Loop
