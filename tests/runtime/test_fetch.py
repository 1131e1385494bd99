from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgehost.runtime import (
    CompiledFunction,
    FunctionSpec,
    GuestRequest,
    OutputLimits,
    builtin_host_functions,
    encode_request,
)
from edgehost.runtime.egress import host_allowed

from .conftest import guest_wasm

RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hang":
            RELEASE.wait()
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/fat-headers":  # a small body under 1.2 kB of header fields
            self.send_response(200)
            for n in range(20):
                self.send_header(f"x-fat-{n}", "v" * 50)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        body = {"/big": b"x" * 5000, "/fits": b"x" * 800}.get(
            self.path, f"host={self.headers['Host']}".encode()
        )
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    RELEASE.set()
    server.shutdown()


def fetch(url: str, allow: tuple[str, ...], *, max_ms: int = 2000) -> tuple[int, bytes]:
    spec = FunctionSpec("fetch", 1, http_allow=allow, memory_pages=16, max_execution_ms=max_ms)
    compiled = CompiledFunction.load(
        spec,
        guest_wasm("fetch"),
        host_functions=builtin_host_functions(),
        limits=OutputLimits(fetch_bytes=1000),
    )
    outbound = encode_request(GuestRequest("GET", url, [("x-a", "1")], b""))
    response = compiled.instantiate().invoke(GuestRequest("POST", "/", [], outbound), request_id="r")
    return response.status, response.body


def test_allowed_literal_ip(port: int) -> None:
    assert fetch(f"http://127.0.0.1:{port}/ok", ("127.0.0.1",)) == (200, f"host=127.0.0.1:{port}".encode())


def test_host_not_on_allow_list(port: int) -> None:
    assert fetch(f"http://127.0.0.1:{port}/ok", ("example.com",)) == (555, b"\x01")


def test_allowed_name_resolving_to_loopback_is_denied(port: int) -> None:
    assert fetch(f"http://localhost:{port}/ok", ("localhost",)) == (555, b"\x01")


def test_literal_localhost_name_not_covered_by_ip_entry(port: int) -> None:
    assert fetch(f"http://localhost:{port}/ok", ("127.0.0.1",)) == (555, b"\x01")


def test_metadata_address_denied() -> None:
    assert fetch("http://169.254.169.254/latest", ("*.internal", "example.com")) == (555, b"\x01")


def test_malformed_url() -> None:
    assert fetch("ftp://127.0.0.1/x", ("127.0.0.1",)) == (555, b"\x02")


def test_redirect_returned_not_followed(port: int) -> None:
    assert fetch(f"http://127.0.0.1:{port}/redirect", ("127.0.0.1",))[0] == 302


def test_too_large(port: int) -> None:
    assert fetch(f"http://127.0.0.1:{port}/big", ("127.0.0.1",)) == (555, b"\x05")


def test_the_fetch_limit_counts_the_headers_too(port: int) -> None:
    """The fetch limit (1000 bytes here) bounds the response as the guest receives it, fields included."""
    assert fetch(f"http://127.0.0.1:{port}/fat-headers", ("127.0.0.1",)) == (555, b"\x05")
    status, body = fetch(f"http://127.0.0.1:{port}/fits", ("127.0.0.1",))
    assert status == 200 and body.endswith(b"x" * 800)


def test_fetch_bounded_by_invocation_deadline(port: int) -> None:
    assert fetch(f"http://127.0.0.1:{port}/hang", ("127.0.0.1",), max_ms=100) == (555, b"\x04")


def test_network_error() -> None:
    # Port 9 on loopback (discard) is closed in the test environment: connection refused.
    assert fetch("http://127.0.0.1:9/", ("127.0.0.1",)) == (555, b"\x03")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("api.example.com", True), ("a.b.example.com", True), ("example.com", False), ("badexample.com", False)],
)
def test_wildcard_allow_list(host: str, allowed: bool) -> None:
    assert host_allowed(host, ("*.example.com",)) is allowed
