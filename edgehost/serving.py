"""Granian listeners inside one asyncio loop, so `edgefn dev` runs every role in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from granian.constants import Interfaces
from granian.server.embed import Server

log = logging.getLogger("edgefn.serving")
# granian's default: at most this many connections queued, and (one worker) requests in flight.
DEFAULT_BACKLOG = 128
# The CP's node routes: every runner holds a watch long-poll open, so a fleet of a thousand
# needs that many requests in flight on one listener, with room for heartbeats beside them.
NODE_BACKLOG = 4096


T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Runs a serving process's main coroutine on uvloop, the loop granian itself picks when it
    spawns workers: a heartbeat or a request costs the CP and the ingress less loop work than on
    asyncio's own loop (bench/RESULTS.md)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


@dataclass
class Listener:
    name: str
    app: Any
    host: str
    port: int
    ssl: dict[str, Any] = field(default_factory=dict)
    # Also the backpressure (requests in flight): granian's default would be backlog / workers.
    backlog: int = DEFAULT_BACKLOG


class PortInUse(Exception):
    pass


def check_free(host: str, port: int) -> None:
    """Fails early with a sentence instead of a bind traceback from inside granian."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(target, port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{host}:{port} did not start listening") from None
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serve(listeners: list[Listener]) -> AsyncIterator[None]:
    """Serves every listener until the block exits; all are listening when it is entered."""
    for listener in listeners:
        check_free(listener.host, listener.port)
    servers: list[Server] = []
    tasks: list[asyncio.Task[None]] = []
    for listener in listeners:
        ssl: dict[str, Any] = {k: Path(v) if isinstance(v, str) else v for k, v in listener.ssl.items()}
        server = Server(
            listener.app,
            address=listener.host,
            port=listener.port,
            interface=Interfaces.ASGI,
            log_enabled=False,
            websockets=False,
            backlog=listener.backlog,
            backpressure=listener.backlog,
            **ssl,
        )
        servers.append(server)
        tasks.append(asyncio.create_task(server.serve(), name=f"granian-{listener.name}"))
    try:
        await asyncio.gather(*(wait_listening(lst.host, lst.port) for lst in listeners))
        yield
    finally:
        for server in servers:
            server.signal_handler_interrupt()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
