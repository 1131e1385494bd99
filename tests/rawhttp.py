"""HTTP/1.1 over a plain socket, for tests that must see (or send) the exact bytes an HTTP client hides.

A test writes requests as bytes and reads everything the server sends until it closes the
connection (the last request says `Connection: close`); `first_response` then splits off the
first answer where the next status line starts, so a body that should not be there shows up.
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any


def request(
    method: str,
    target: str,
    *,
    host: str | None = "edge.test",
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    close: bool = True,
    version: str = "HTTP/1.1",
) -> bytes:
    """One request's bytes: Host (unless None), the given fields, Content-Length when there is a body."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in headers or ()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def exchange(
    port: int,
    data: bytes,
    *,
    half_close: bool = False,
    timeout: float = 30.0,
    tls: ssl.SSLContext | None = None,
) -> bytes:
    """Sends `data` and returns all the server sends until it closes; `half_close` shuts our side
    for writing first, as a client that disconnects mid-request does; `tls` speaks TLS first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
        sock = tls.wrap_socket(plain, server_hostname="127.0.0.1") if tls is not None else plain
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
        return bytes(received)


@dataclass
class RawResponse:
    status: int
    fields: list[tuple[bytes, bytes]]  # as sent: names lower-case (granian), values untouched
    head: bytes  # the status line and field lines
    body: bytes  # every byte up to the next status line, or to the end

    def field(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.fields if n == name]
        assert len(values) <= 1, f"{name!r} sent {len(values)} times"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def first_response(data: bytes) -> tuple[RawResponse, bytes]:
    """The first response in `data` and what follows it (the next responses)."""
    end = data.index(b"\r\n\r\n")
    head = data[:end]
    following = data.find(b"HTTP/1.", end + 4)
    rest_at = len(data) if following < 0 else following
    status_line, *lines = head.split(b"\r\n")
    fields = []
    for line in lines:
        name, _, value = line.partition(b":")
        fields.append((name.lower(), value.strip(b" \t")))
    response = RawResponse(int(status_line.split(b" ")[1]), fields, head, data[end + 4 : rest_at])
    return response, data[rest_at:]


def one_response(data: bytes) -> RawResponse:
    response, rest = first_response(data)
    assert rest == b"", f"more than one response: {rest[:200]!r}"
    return response
