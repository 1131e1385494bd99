"""Outbound HTTP for `edgefn.http_fetch`, with the ABI's egress policy.

The name is resolved once, every address checked, and the connection made to
that checked address (Host header and SNI still carry the name), so DNS
rebinding between check and connect is impossible. Every socket wait is bounded
by what is left of the invocation's deadline, not by a fresh timeout.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cache
from urllib.parse import urlsplit

from edgehost.http_rules import TOKEN

from .codec import TEXT_CODEC
from .types import GuestRequest

DENIED, MALFORMED, NETWORK, TIMEOUT, TOO_LARGE = -1, -2, -3, -4, -5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_CHUNK = 64 << 10
# getaddrinfo cannot be given a timeout, so it runs here and we stop waiting at the deadline.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="edgefn-dns")


class FetchRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def host_allowed(host: str, allow: Collection[str]) -> bool:
    """Exact names, or "*.example.com" for any name below example.com (not itself)."""
    host = host.lower().rstrip(".")
    for entry in allow:
        entry = entry.lower()
        if entry == host or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def address_refused(address: IPAddress) -> bool:
    """Anything not globally routable: loopback, link-local (hence 169.254.169.254), private (hence
    fd00:ec2::254), unspecified, reserved, shared; plus multicast, which `is_global` lets through."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_multicast or not address.is_global


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchRefused(TIMEOUT, "the invocation deadline passed")
    return left


def _resolve(host: str, port: int, deadline: float) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=_remaining(deadline))
    except FutureTimeout:
        raise FetchRefused(TIMEOUT, f"resolving {host} outlived the deadline") from None
    except OSError as exc:
        raise FetchRefused(NETWORK, f"cannot resolve {host}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _pick_address(host: str, port: int, allow: Collection[str], deadline: float) -> IPAddress:
    if not host_allowed(host, allow):
        raise FetchRefused(DENIED, f"{host} is not on the allow-list")
    addresses = _resolve(host, port, deadline)
    explicit = {entry.lower() for entry in allow}
    # Refuse if any answer is forbidden: a mixed answer is how rebinding attacks start.
    for address in addresses:
        if address_refused(address) and str(address) not in explicit:
            raise FetchRefused(DENIED, f"{host} resolves to {address}, which the runner refuses")
    if not addresses:
        raise FetchRefused(NETWORK, f"{host} has no addresses")
    return addresses[0]


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        # makefile() registers the reader, so closing the socket waits until the body is read.
        self._file = sock.makefile("rb", buffering=0)
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(_remaining(self._deadline))
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._file.close()
        super().close()


class _DeadlineSocket:
    """The slice of the socket API http.client uses, each wait bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: IPAddress, deadline: float, tls: bool) -> None:
        super().__init__(host, port)
        self.default_port = 443 if tls else 80
        self._address = address
        self._deadline = deadline
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), timeout=_remaining(self._deadline))
        if self._tls:
            sock = _tls_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(sock, self._deadline)


def _header_text(value: str) -> str:
    # http.client decodes header bytes as latin-1; the wire format carries UTF-8.
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


def _headers(response: http.client.HTTPResponse) -> list[tuple[str, str]]:
    return [(name.lower(), _header_text(value)) for name, value in response.getheaders()]


def _wire_size(headers: list[tuple[str, str]]) -> int:
    """The bytes the headers take in the response the guest receives (status, count, strings)."""
    return 8 + sum(8 + len(name.encode()) + len(value.encode(*TEXT_CODEC)) for name, value in headers)


def _read_body(response: http.client.HTTPResponse, room: int, max_bytes: int) -> bytes:
    """The body, if it fits in `room`: what `max_bytes` leaves once the status and headers are counted."""
    declared = response.getheader("content-length")
    if room < 0 or (declared and declared.isdigit() and int(declared) > room):
        raise FetchRefused(TOO_LARGE, f"the response is over the {max_bytes}-byte fetch limit")
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read(min(_CHUNK, room + 1 - total)):
        total += len(chunk)
        if total > room:
            raise FetchRefused(TOO_LARGE, f"the response is over the {max_bytes}-byte fetch limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _target(request: GuestRequest) -> tuple[str, int, bool, str]:
    try:
        url = urlsplit(request.uri)
        port = url.port
    except ValueError as exc:
        raise FetchRefused(MALFORMED, f"bad URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise FetchRefused(MALFORMED, "the URL must be absolute http:// or https://")
    if not TOKEN(request.method):
        raise FetchRefused(MALFORMED, f"bad method {request.method!r}")
    tls = url.scheme == "https"
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return url.hostname, port or (443 if tls else 80), tls, path


def fetch(
    request: GuestRequest, *, allow: Collection[str], deadline: float, max_bytes: int
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Perform one request without following redirects; raises FetchRefused with an ABI code.

    `max_bytes` bounds the whole response in the wire format (status, headers and body), so the
    host never holds more than that for a guest; http.client caps the header section itself
    (100 fields of at most 64 KiB) before anything is counted."""
    host, port, tls, path = _target(request)
    address = _pick_address(host, port, allow, deadline)
    conn = _PinnedConnection(host, port, address, deadline, tls)
    headers = {name: value for name, value in request.headers if name.lower() not in _HOP_HEADERS}
    try:
        conn.request(request.method, path, body=request.body or None, headers=headers)
        response = conn.getresponse()
        fields = _headers(response)
        # The limit is on the whole response as the guest receives it, headers included.
        body = _read_body(response, max_bytes - _wire_size(fields) - 4, max_bytes)
        return response.status, fields, body
    except ValueError as exc:  # http.client refuses bad header names/values before sending
        raise FetchRefused(MALFORMED, str(exc)) from None
    except TimeoutError:
        raise FetchRefused(TIMEOUT, "the request outlived the invocation deadline") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchRefused(NETWORK, f"{type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
