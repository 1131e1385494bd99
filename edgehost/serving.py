"""Granian listeners inside one asyncio loop, so `edgefn dev` serves every listener in one process.

Every listener speaks HTTP/1.1 only, with a bound on its connections, a deadline for each
request head and one for sending answers (`ConnectionLimits`): with granian's automatic HTTP/2
detection (hyper-util's), a client that connects and sends nothing, or only "PRI", is never timed
out, since hyper's header timeout only starts once a protocol is chosen; and HTTP/2 streams have no
header deadline at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import socket
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server

from edgehost.settings import Runner

log = logging.getLogger("edgefn.serving")
# granian's default number of connections a listener serves at once (per process).
DEFAULT_CONNECTIONS = 128
# The CP's node routes: every runner holds a watch long-poll open, so a fleet of a thousand
# needs that many connections on one listener, with room for heartbeats beside them.
NODE_CONNECTIONS = 4096
# hyper's default deadline for a request head, idle keep-alive time before it included.
DEFAULT_HEADER_TIMEOUT_S = 30.0
# How long a client may take none of an answer's bytes before its connection is dropped.
DEFAULT_SEND_TIMEOUT_S = 30.0
# How long a granian worker process may take to open its listener after its app started.
LISTENER_WAIT_S = 10.0
# Linux caps a listen backlog at net.core.somaxconn, 4096 by default.
MAX_BACKLOG = 4096
# Descriptors a serving process needs beside its connections (files, the CP, the cache, logs).
SPARE_FILES = 256


T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Runs a serving process's main coroutine on uvloop, the loop granian itself picks when it
    spawns workers: a heartbeat or a request costs the CP and the ingress less loop work than on
    asyncio's own loop (bench/RESULTS.md)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one serving process lets its clients hold (docs/runner.md, "Connections and deadlines").

    `max_connections` is granian's `backpressure`: a semaphore each connection holds from accept
    to close, idle keep-alive time included, so it bounds connections, not requests. Past it,
    granian stops accepting and new clients wait in the kernel's listen queue. `header_timeout_s`
    is hyper's `header_read_timeout`: a request head must be complete that long after the
    connection opened or after its previous answer, so it also closes idle keep-alive connections.
    `send_timeout_s` is Linux's TCP_USER_TIMEOUT on the listener (`bound_sends`): hyper has no write
    timeout, so without it a client that never reads its answer holds the connection, and the
    answer's bytes, for good.
    """

    max_connections: int = DEFAULT_CONNECTIONS
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S

    @classmethod
    def ingress(cls, runner: Runner) -> ConnectionLimits:
        return cls(runner.max_connections, runner.header_timeout_s, runner.send_timeout_s)

    def granian_options(self) -> dict[str, Any]:
        """Keyword arguments for granian's servers (embedded and multi-process alike)."""
        return {
            "http": HTTPModes.http1,
            "backlog": min(self.max_connections, MAX_BACKLOG),
            "backpressure": self.max_connections,
            "http1_settings": HTTP1Settings(header_read_timeout=max(1, round(self.header_timeout_s * 1000))),
        }


def bound_sends(port: int, timeout_s: float) -> int:
    """Sets TCP_USER_TIMEOUT (tcp(7), Linux) to `timeout_s` on this process's listening TCP sockets
    on `port`; returns how many it found (0 where the option does not exist).

    Every connection accepted afterwards inherits it: the kernel drops a connection whose sent
    bytes stay unacknowledged, or whose peer keeps its receive window at zero (a client that does
    not read), for that long, and hyper then closes it, releasing its `max_connections` slot and
    the answer it held. Without a reset sent, the client is not told. Clients that read slowly
    but steadily are not affected. granian builds its listeners itself and offers no hook, hence
    the search by port among the process's descriptors (once per listener, at start-up).
    """
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None:
        return 0
    found = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:  # closed meanwhile, or a socket that is not an internet one
            continue
        with sock:  # closes the duplicate only
            try:
                if (
                    sock.family in (socket.AF_INET, socket.AF_INET6)
                    and sock.type == socket.SOCK_STREAM
                    and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                    and sock.getsockname()[1] == port
                ):
                    sock.setsockopt(socket.IPPROTO_TCP, option, max(1, round(timeout_s * 1000)))
                    found += 1
            except OSError:
                continue
    return found


async def bound_sends_once_listening(port: int, timeout_s: float, wait_s: float = LISTENER_WAIT_S) -> None:
    """`bound_sends` as soon as this process listens on `port` (a granian worker opens its listener
    after its app started); logs a warning if it never does within `wait_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while not bound_sends(port, timeout_s):
        if loop.time() > deadline:
            log.warning("no listener on port %d to set the send timeout on; answers are not bounded", port)
            return
        await asyncio.sleep(0.05)


def ensure_open_files(connections: int) -> None:
    """Raises this process's soft limit on open files to fit `connections` (and SPARE_FILES), up to
    the hard limit, which children inherit: at a common soft limit of 1,024, accept() would fail
    long before `runner.max_connections`. Logs a warning when the hard limit is lower."""
    needed = connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "only %d open files allowed (hard limit), fewer than the %d connections configured need: "
            "raise the limit (ulimit -n, systemd LimitNOFILE) or lower runner.max_connections",
            soft,
            needed,
        )


@dataclass
class Listener:
    name: str
    app: Any
    host: str
    port: int
    ssl: dict[str, Any] = field(default_factory=dict)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


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


def freeze_long_lived() -> None:
    """Moves what start-up allocated (modules, apps, plugins, tables: it lives as long as the
    process) out of the garbage collector's reach, after collecting start-up's garbage so none is
    kept for ever. Full collections under load then scan the few thousand objects made since, not
    ~26,000: in a runner they took 3-45 ms each, about once a second, stalling every request in
    flight (bench/RESULTS.md)."""
    gc.collect()
    gc.freeze()


@contextlib.asynccontextmanager
async def serve(listeners: list[Listener]) -> AsyncIterator[None]:
    """Serves every listener until the block exits; all are listening when it is entered."""
    for listener in listeners:
        check_free(listener.host, listener.port)
    ensure_open_files(sum(listener.limits.max_connections for listener in listeners))
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
            **listener.limits.granian_options(),
            **ssl,
        )
        servers.append(server)
        tasks.append(asyncio.create_task(server.serve(), name=f"granian-{listener.name}"))
    try:
        await asyncio.gather(*(wait_listening(lst.host, lst.port) for lst in listeners))
        for listener in listeners:
            await bound_sends_once_listening(listener.port, listener.limits.send_timeout_s)
        freeze_long_lived()
        yield
    finally:
        for server in servers:
            server.signal_handler_interrupt()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
