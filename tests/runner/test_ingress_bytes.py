"""ABI strings are bytes: what a client sends reaches the guest unchanged, and the guest's answer the client.

A stand-in pool records the request the ingress built and answers with non-ASCII header bytes.
"""

from __future__ import annotations

from typing import Any

from edgehost.protocol import FunctionDeployment, RouteSpec
from edgehost.runner.ingress import Ingress
from edgehost.runner.node import LiveFunction, Snapshot
from edgehost.runtime import FunctionSpec, GuestRequest, GuestResponse
from edgehost.runtime.codec import encode_request

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
    spec = FunctionSpec(function_id="t.f", version=1)

    def __init__(self) -> None:
        self.requests: list[GuestRequest] = []

    def invoke(self, request: GuestRequest, *, request_id: str) -> GuestResponse:
        self.requests.append(request)
        headers = [("x-utf8", "caf\u00e9 \u2603"), ("x-raw", b"\xff\xfe".decode("utf-8", "surrogateescape"))]
        return GuestResponse(200, headers, b"ok", [], 0.0)


async def test_header_and_path_bytes_pass_through_both_ways(ingress: Ingress) -> None:
    pool = Recording()
    routes = ingress.hook.edgehost_route_table(
        routes=[RouteSpec(host="*", path="/*", function_id="t.f", project="t")]
    )
    ingress.node.snapshot = Snapshot(routes=routes, functions={"t.f": LiveFunction(DEPLOYMENT, pool)})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw_path = "/caf\u00e9".encode()
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/caf\u00e9",
        "raw_path": raw_path,
        "query_string": b"q=\xe2\x98\x83",
        "headers": [(b"host", b"edge"), (b"x-name", "caf\u00e9".encode()), (b"x-bin", b"\xff\x00\x80")],
    }
    await ingress(scope, receive, send)
    assert sent[0]["status"] == 200
    wire = encode_request(pool.requests[0])  # what the guest's memory receives
    for expected in (raw_path + b"?q=\xe2\x98\x83", b"caf\xc3\xa9", b"\xff\x00\x80"):
        assert expected in wire
    answered = dict(sent[0]["headers"])
    assert answered[b"x-utf8"] == "caf\u00e9 \u2603".encode()
    assert answered[b"x-raw"] == b"\xff\xfe"
