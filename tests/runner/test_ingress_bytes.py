"""ABI strings are bytes: what a client sends reaches the guest unchanged, and the guest's answer the client.

A stand-in pool records the request the ingress built and answers with non-ASCII header bytes.
"""

from __future__ import annotations

from typing import Any

from edgehost.protocol import FunctionDeployment, RouteSpec
from edgehost.runner.ingress import Ingress
from edgehost.runner.snapshot import LiveFunction, Snapshot
from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse
from edgehost.runtime.codec import decode_request, encode_request

DEPLOYMENT = FunctionDeployment(
    function_id="t.f",
    project="t",
    name="f",
    version=1,
    artifact_url="",
    sha256="",
    memory_pages=1,
    max_execution_ms=50,
)


class Recording:
    spec = FunctionSpec(function_id="t.f", version=1, memory_pages=16, max_execution_ms=50)

    def __init__(self) -> None:
        self.requests: list[bytes] = []  # as the guest's memory receives them

    def invoke(self, request: GuestRequest | bytes, *, request_id: str) -> GuestResponse:
        self.requests.append(request if isinstance(request, bytes) else encode_request(request))
        headers = [("x-utf8", "caf\u00e9 \u2603"), ("x-raw", b"\xff\xfe".decode("utf-8", "surrogateescape"))]
        return GuestResponse(200, headers, b"ok", [], 0.0)


def serve(ingress: Ingress, path: str) -> Recording:
    pool = Recording()
    routes = ingress.hook.edgehost_route_table(
        routes=[RouteSpec(host="*", path=path, function_id="t.f", project="t")], claims=()
    )
    ingress.node.snapshot = Snapshot(routes=routes, functions={"t.f": LiveFunction(DEPLOYMENT, pool)})
    return pool


async def call(ingress: Ingress, raw_path: bytes, **scope: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await ingress(
        {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "raw_path": raw_path,
            "headers": [(b"host", b"edge")],
            **scope,
        },
        receive,
        send,
    )
    return sent


async def test_header_and_path_bytes_pass_through_both_ways(ingress: Ingress) -> None:
    pool = serve(ingress, "/*")
    raw_path = "/caf\u00e9".encode()
    sent = await call(
        ingress,
        raw_path,
        query_string=b"q=\xe2\x98\x83",
        headers=[(b"host", b"edge"), (b"x-name", "caf\u00e9".encode()), (b"x-bin", b"\xff\x00\x80")],
    )
    assert sent[0]["status"] == 200
    wire = pool.requests[0]
    for expected in (raw_path + b"?q=\xe2\x98\x83", b"caf\xc3\xa9", b"\xff\x00\x80"):
        assert expected in wire
    answered = dict(sent[0]["headers"])
    assert answered[b"x-utf8"] == "caf\u00e9 \u2603".encode()
    assert answered[b"x-raw"] == b"\xff\xfe"


async def test_a_route_path_matches_its_utf8_bytes_raw_or_percent_encoded(ingress: Ingress) -> None:
    """Routes are text; a client may send the path's UTF-8 bytes as they are or percent-encoded."""
    pool = serve(ingress, "/caf\u00e9")
    for raw_path in ("/caf\u00e9".encode(), b"/caf%C3%A9"):
        assert (await call(ingress, raw_path))[0]["status"] == 200, raw_path
    assert [decode_request(wire).uri for wire in pool.requests] == [
        "/caf\u00e9",
        "/caf%C3%A9",
    ]  # the guest sees the bytes sent
    for latin1 in (b"/caf%E9", b"/caf\xe9"):  # Latin-1 é is not UTF-8 é, and still gets a clear 404
        assert (await call(ingress, latin1))[0]["status"] == 404
