"""Request paths through a real `edgefn dev` socket: segments are split before percent-decoding, and
parameter bytes that are not UTF-8 reach the guest as sent."""

from __future__ import annotations

import socket
from pathlib import Path

from edgehost.runtime.codec import decode_request
from tests.procs import REPO, dev_server, wait_until, write_project

PROJECT = """
project = "paths"

[[functions]]
name = "echo"
wasm = "echo.wat"

[[routes]]
path = "/users/{id}"
function = "echo"

[[routes]]
path = "/files/a%2Fb"
function = "echo"

[[deployments]]
function = "echo"
"""


def raw_get(port: int, target: bytes) -> tuple[int, bytes]:
    """Sends the request target byte for byte (no client normalises it) and reads the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_encoded_slashes_stay_in_their_segment(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p", PROJECT, {"echo.wat": (REPO / "tests/guests/echo.wat").read_text()}
    )
    with dev_server(project, tmp_path / "logs") as dev:
        port = dev.ports["ingress"]
        wait_until(lambda: raw_get(port, b"/users/1")[0] == 200, what="the echo guest")
        for target, param in [
            (b"/users/a%2Fb", "a/b"),
            (b"/users/caf%C3%A9", "caf\u00e9"),
            (b"/users/%FF%FE", "%FF%FE"),  # not UTF-8: as sent
            (b"/users/a%0D%0Ab", "a%0D%0Ab"),  # control characters stay encoded
        ]:
            status, body = raw_get(port, target)
            assert status == 200, target
            request = decode_request(body)
            assert request.uri == target.decode("latin-1")  # the guest sees the bytes sent
            assert dict(request.headers)["x-edgefn-param-id"] == param, target
        assert raw_get(port, b"/users/a/b")[0] == 404  # a real slash separates segments
        assert raw_get(port, b"/files/a%2fb")[0] == 200  # an escaped literal matches its escape
        assert raw_get(port, b"/files/a/b")[0] == 404
