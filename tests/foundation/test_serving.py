"""Listeners: a node listener holds a whole fleet's watch long-polls at once; every listener bounds
the time a connection may take to send a request head, silent and idle ones included."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import subprocess
import sys
from typing import Any

from edgehost.serving import NODE_CONNECTIONS, SPARE_FILES, ConnectionLimits, Listener, serve
from tests.services import free_port

PARKED = 300  # above granian's default of 128 connections per listener


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
    async with serve([Listener("node", app, "127.0.0.1", port, limits=ConnectionLimits(NODE_CONNECTIONS))]):
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


class Answering(Parking):
    def __init__(self) -> None:
        super().__init__()
        self.release.set()


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closes the connection (EOF); bounded so a broken build fails, not hangs."""
    try:
        return await asyncio.wait_for(reader.read(), 30) == b""
    except TimeoutError:
        return False


async def test_every_listener_closes_silent_and_idle_connections_after_the_header_timeout() -> None:
    """HTTP/1 only: with granian's HTTP/2 detection a connection that sends nothing is never closed."""
    port = free_port()
    limits = ConnectionLimits(header_timeout_s=0.2)
    async with serve([Listener("api", Answering(), "127.0.0.1", port, limits=limits)]):
        silent = await asyncio.open_connection("127.0.0.1", port)
        preface = await asyncio.open_connection("127.0.0.1", port)
        preface[1].write(b"PRI")  # the start of HTTP/2's connection preface
        idle = await asyncio.open_connection("127.0.0.1", port)
        idle[1].write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await idle[0].readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 204")
        assert await _closed_by_server(silent[0])
        assert await _closed_by_server(preface[0])
        assert await _closed_by_server(idle[0])
        for _, writer in (silent, preface, idle):
            writer.close()


OPEN_FILES_PROBE = """
import logging, resource, sys
from edgehost.serving import ensure_open_files
logging.basicConfig(stream=sys.stdout, format="%(message)s")
resource.setrlimit(resource.RLIMIT_NOFILE, (256, int(sys.argv[1])))
ensure_open_files(int(sys.argv[2]))
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def _open_files_after(hard: int, connections: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_FILES_PROBE, str(hard), str(connections)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_the_open_files_limit_is_raised_for_the_configured_connections() -> None:
    """At a soft limit of 1,024 (common), accept() would fail long before runner.max_connections."""
    assert _open_files_after(hard=8192, connections=4000) == [str(4000 + SPARE_FILES)]


def test_a_hard_limit_below_the_connections_is_reported() -> None:
    *warning, soft = _open_files_after(hard=1000, connections=4000)
    assert soft == "1000"
    assert "runner.max_connections" in warning[0]


async def test_the_send_timeout_is_set_on_the_listener_so_every_accepted_connection_has_it() -> None:
    """granian builds its sockets itself; `serve` finds its listener and sets TCP_USER_TIMEOUT."""
    port = free_port()
    limits = ConnectionLimits(send_timeout_s=1.5)
    async with serve([Listener("api", Answering(), "127.0.0.1", port, limits=limits)]):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 204")  # accepted by now
        (accepted,) = [fd for fd in _sockets() if _peer(fd) == writer.get_extra_info("sockname")]
        with socket.socket(fileno=os.dup(accepted)) as sock:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 1500
        writer.close()


def _sockets() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                fds.append(int(name))
    return fds


def _peer(fd: int) -> object:
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            return sock.getpeername()
    except OSError:
        return None


async def test_what_start_up_allocated_is_out_of_the_collectors_reach_once_serving() -> None:
    """Full collections under load must not rescan the process's modules and apps each time."""
    gc.unfreeze()
    start_up = [[i] for i in range(1000)]  # long-lived objects made before serving
    port = free_port()
    try:
        async with serve([Listener("api", Answering(), "127.0.0.1", port)]):
            assert gc.get_freeze_count() >= len(start_up)
            assert not any(obj is start_up for obj in gc.get_objects())
    finally:
        gc.unfreeze()
