"""One `edgefn dev` serving every hostile guest of tests/guests, and helpers to prove each failure.

A failure is proven four ways: the HTTP status and JSON error code, one more
`wasm_invoke_errors_total{function_id,error_code}` on the metrics port, the invocation's
log line with its `error_code` and `error_message`, and a 200 from hello right after.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgehost.runtime.codec import encode_request
from edgehost.runtime.types import GuestRequest
from tests.procs import REPO, DevServer, dev_server, wait_until, write_project

GUESTS = REPO / "tests" / "guests"
PROJECT = "sandbox"
MAX_BODY_BYTES = 1024

# name: (guest file, extra settings)
FUNCTIONS: dict[str, tuple[str, str]] = {
    "hello": ("hello.wat", ""),
    "loop": ("loop.wat", ""),
    "start-loop": ("start_loop.wat", "min_hot_instances = 0"),
    "unreachable": ("traps.wat", 'entrypoint = "unreachable"'),
    "divzero": ("traps.wat", 'entrypoint = "divzero"'),
    "overflow": ("traps.wat", 'entrypoint = "overflow"'),
    "grow": ("grow.wat", "memory_pages = 2"),
    "oob": ("bad_response.wat", 'entrypoint = "oob"'),
    "bad-status": ("bad_response.wat", 'entrypoint = "bad_status"'),
    "path-open": ("wasi.wat", 'entrypoint = "path_open"'),
    "sock-accept": ("wasi.wat", 'entrypoint = "sock_accept"'),
    "stdout": ("wasi.wat", 'entrypoint = "stdout"'),
    "log": ("log.wat", ""),
    "fetch": ("fetch.wat", 'http_allow = ["127.0.0.1"]\nmax_execution_ms = 400'),
    "fetch-by-name": ("fetch.wat", 'http_allow = ["localhost"]\nmax_execution_ms = 400'),
    "runaway": ("fetch_then_spin.wat", 'http_allow = ["127.0.0.1"]\nmax_execution_ms = 2000'),
    **{
        f"flood-{entry}": (
            "flood.wat",
            f'entrypoint = "{entry}"\nmemory_pages = 1025\nmax_execution_ms = 1000',
        )
        for entry in ("stdout", "newlines", "log", "iovecs")
    },
}


def project_toml(functions: dict[str, tuple[str, str]], project: str = PROJECT) -> str:
    parts = [f'project = "{project}"\n']
    for name, (wasm, extra) in functions.items():
        parts.append(f'[[functions]]\nname = "{name}"\nwasm = "{wasm}"\n{extra}\n')
        parts.append(f'[[routes]]\npath = "/{name}"\nfunction = "{name}"\n')
        parts.append(f'[[deployments]]\nfunction = "{name}"\n')
    return "\n".join(parts)


def guest_files(functions: dict[str, tuple[str, str]]) -> dict[str, str]:
    files = {wasm: (GUESTS / wasm).read_text() for wasm, _ in functions.values() if wasm != "hello.wat"}
    return {**files, "hello.wat": (REPO / "functions/hello/hello.wat").read_text()}


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("sandbox")
    project = write_project(root / PROJECT, project_toml(FUNCTIONS), guest_files(FUNCTIONS))
    env = {"EDGEFN_RUNNER__MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with dev_server(project, root / "logs", env) as dev:
        yield dev
    shutil.rmtree(project / ".edgefn", ignore_errors=True)


def error_count(dev: DevServer, function: str, code: str) -> float:
    text = httpx.get(f"{dev.metrics}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "wasm_invoke_errors_total"
                and labels.get("function_id") == f"{PROJECT}.{function}"
                and labels.get("error_code") == code
            ):
                return sample.value
    return 0.0


def log_record(dev: DevServer, request_id: str) -> dict[str, Any]:
    records = wait_until(
        lambda: [r for r in dev.json_lines() if r.get("request_id") == request_id],
        what=f"the log line of request {request_id}",
    )
    record: dict[str, Any] = records[0]
    return record


def expect_failure(
    dev: DevServer, function: str, status: int, code: str, *, content: bytes = b""
) -> dict[str, Any]:
    """Runs one failing request and proves it all four ways; returns its log line."""
    before = error_count(dev, function, code)
    response = httpx.post(f"{dev.ingress}/{function}", content=content, timeout=30)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] == code
    assert answer["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in answer["detail"]
    wait_until(lambda: error_count(dev, function, code) == before + 1, what=f"{code} counted for {function}")
    record = log_record(dev, response.headers["x-request-id"])
    assert record["error_code"] == code
    assert record["error_message"]
    assert record["status"] == status
    assert httpx.get(f"{dev.ingress}/hello", timeout=10).status_code == 200
    return record


def fetch_request(url: str, method: str = "GET") -> bytes:
    """An http_fetch request in the ABI wire format, for guests that fetch what their body says."""
    return encode_request(GuestRequest(method, url, [], b""))


class Upstream(BaseHTTPRequestHandler):
    """A local origin: /ok answers, /slow stalls, /hold... waits until `release(server)` (at most a
    minute), /big is too large, /redirect points at a refused name."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        if self.path == "/slow":
            time.sleep(2)
        if self.path.startswith("/hold"):
            self.server.released.wait(60)  # type: ignore[attr-defined]
        if self.path == "/big":
            self.send_response(200)
            self.send_header("content-length", str(4 << 20))
            self.end_headers()
            self.wfile.write(b"x" * 65536)
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header(
                "location", f"http://localhost:{cast(ThreadingHTTPServer, self.server).server_port}/target"
            )
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = b"fetched " + self.path.encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def upstream() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    server.released = threading.Event()  # type: ignore[attr-defined]
    server.released.set()  # type: ignore[attr-defined]  # /hold waits only inside `holding`
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def url_of(server: ThreadingHTTPServer, path: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_port}{path}"


def hits(server: ThreadingHTTPServer) -> list[str]:
    return list(server.hits)  # type: ignore[attr-defined]


@contextmanager
def holding(server: ThreadingHTTPServer) -> Iterator[None]:
    """Requests to /hold... wait inside the block; all are answered when it exits."""
    released: threading.Event = server.released  # type: ignore[attr-defined]
    released.clear()
    try:
        yield
    finally:
        released.set()
