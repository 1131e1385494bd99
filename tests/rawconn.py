"""Raw HTTP/1.1 clients for tests of what the ingress does with idle, slow and stalled connections.

Sockets, not httpx: these clients must be able to stop half-way through a head or a body.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# How long a test waits for what must happen, so a broken build fails instead of hanging; below
# hyper's default header timeout (30 s), so a deadline that is not applied is noticed.
WAIT_S = 20

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split(" ")[1]), headers, body


async def read_interim(reader: asyncio.StreamReader) -> int:
    """The status of an interim (1xx) response, which has no content."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    return int(head.split(b" ")[1])


def request(
    method: str, path: str, body: bytes = b"", length: int | None = None, *, expect_continue: bool = False
) -> bytes:
    size = len(body) if length is None else length
    framing = f"content-length: {size}\r\n" if method == "POST" else ""
    if expect_continue:  # RFC 9110 §10.1.1: the server answers 100 once it reads the body
        framing += "expect: 100-continue\r\n"
    return f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{framing}\r\n".encode() + body


async def send(port: int, data: bytes) -> Conn:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def hello(port: int) -> int:
    """A new client's GET /hello on a fresh connection: its status."""
    reader, writer = await send(port, request("GET", "/hello"))
    try:
        return (await read_response(reader))[0]
    finally:
        writer.close()


def never_reading(port: int, data: bytes) -> socket.socket:
    """A client that sends `data` and never reads: with a receive buffer this small, the answer's
    bytes stop at once and the rest waits at the server (its kernel, then granian)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window follows it
    sock.connect(("127.0.0.1", port))
    sock.sendall(data)
    return sock


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Reads to the end: True once the server closed the connection within WAIT_S."""
    try:
        await asyncio.wait_for(reader.read(), WAIT_S)
        return True
    except TimeoutError:
        return False


def still_open(conns: list[Conn]) -> bool:
    """Nothing received and not closed: the server still holds every connection."""
    return not any(reader.at_eof() or len(reader._buffer) for reader, _ in conns)  # type: ignore[attr-defined]


@asynccontextmanager
async def clients(port: int, count: int, data: bytes, *, answered: bool = False) -> AsyncIterator[list[Conn]]:
    """`count` connections that each sent `data` (and read their answer when `answered`)."""
    conns: list[Conn] = []
    try:
        for _ in range(count):
            conn = await send(port, data)
            if answered:
                assert (await read_response(conn[0]))[0] == 200
            conns.append(conn)
        yield conns
    finally:
        for _, writer in conns:
            writer.close()
