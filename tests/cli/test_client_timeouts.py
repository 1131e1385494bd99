"""A finalize may wait for its check (a component's compile) behind other projects' checks on the
control plane: the client waits for it longer than for any other call."""

from __future__ import annotations

import httpx

from edgehost.client import FINALIZE_TIMEOUT_S, ApiClient
from edgehost.controlplane import schemas

VERSION = {
    "function_id": "p.f",
    "version": 1,
    "state": "ready",
    "reason": "",
    "sha256": "ab" * 32,
    "size_bytes": 1,
    "entrypoint": "handle",
    "denied_imports": [],
    "memory_pages": 16,
    "max_execution_ms": 100,
}


def test_finalize_waits_longer_than_the_clients_other_calls() -> None:
    read_timeouts: dict[str, float] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        read_timeouts[request.method] = request.extensions["timeout"]["read"]
        return httpx.Response(200, json=VERSION if request.method == "POST" else {"functions": []})

    client = ApiClient("http://cp.invalid", "t", timeout=60.0)
    client.http = httpx.Client(
        base_url="http://cp.invalid", timeout=60.0, transport=httpx.MockTransport(answer)
    )
    created = schemas.FunctionCreated(
        function_id="p.f",
        version=1,
        upload_url="",
        finalize_url="/v1/projects/p/functions/f/versions/1/finalize",
        expires_in=60,
    )
    assert client.finalize(created).state == "ready"
    client.functions("p")
    assert read_timeouts == {"POST": FINALIZE_TIMEOUT_S, "GET": 60.0}
