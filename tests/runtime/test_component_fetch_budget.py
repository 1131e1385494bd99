"""A component's outgoing requests: their responses stay in the host until the request ends (ABI
v1 copies each into guest memory), so together they hold at most the function's memory, however
many requests a guest sends within its deadline. A real origin on 127.0.0.2 answers each."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgehost.runtime import FunctionSpec
from edgehost.runtime.component.state import ComponentState
from edgehost.runtime.component.values import case, some
from edgehost.runtime.component.wasi_http import Fields
from edgehost.runtime.component.wasi_http_client import FutureResponse, IncomingResponse, OutgoingRequest
from edgehost.runtime.hostcalls import InvocationContext

BODY = 40_000
MEMORY = 100_000  # room for two responses, not three


class Origin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", str(BODY))
        self.end_headers()
        self.wfile.write(b"x" * BODY)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.2", 0), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _fetch(state: ComponentState, port: int) -> str:
    request = OutgoingRequest(Fields([]), MEMORY)
    request.scheme = some(case("HTTP"))
    request.authority = some(f"127.0.0.2:{port}")
    request.path = some("/")
    outcome = FutureResponse(request).resolve(state)
    if outcome.tag == "ok":
        assert isinstance(outcome.payload, IncomingResponse)
        return "ok"
    return str(outcome.payload.tag)  # type: ignore[union-attr]


def test_one_requests_responses_hold_at_most_its_memory(origin: int) -> None:
    spec = FunctionSpec("p.f", 1, memory_pages=2, max_execution_ms=10_000, http_allow=("127.0.0.2",))
    state = ComponentState(MEMORY)
    state.ctx = InvocationContext(spec, "r1", time.monotonic() + 10)
    assert [_fetch(state, origin) for _ in range(4)] == ["ok", "ok"] + ["HTTP-response-body-size"] * 2
    state.end_request()
    state.ctx = InvocationContext(spec, "r2", time.monotonic() + 10)
    assert _fetch(state, origin) == "ok"  # the next request starts with its whole memory
