"""The runner.* bounds on what one invocation may hand the host, set low on a real `edgefn dev`:
each reaches the runtime (the defaults would let every case below through)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import httpx
import pytest

from edgehost.runtime.hostcalls import TRUNCATED
from tests.procs import DevServer, dev_server, write_project
from tests.runner.test_http_wire import guest_response
from tests.sandbox.conftest import fetch_request, guest_files, log_record, project_toml, url_of

FUNCTIONS = {
    "hello": ("hello.wat", ""),
    "mirror": ("mirror.wat", ""),
    "fetch": ("fetch.wat", 'http_allow = ["127.0.0.1"]\nmax_execution_ms = 2000'),
    "flood-stdout": ("flood.wat", 'entrypoint = "stdout"\nmemory_pages = 1025\nmax_execution_ms = 1000'),
}
OUTPUT_BYTES = 1000
FETCH_BYTES = 100
HEADER_BYTES = 200


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("small")
    project = write_project(root / "sandbox", project_toml(FUNCTIONS), guest_files(FUNCTIONS))
    env = {
        "EDGEFN_RUNNER__MAX_GUEST_OUTPUT_BYTES": str(OUTPUT_BYTES),
        "EDGEFN_RUNNER__MAX_FETCH_BYTES": str(FETCH_BYTES),
        "EDGEFN_RUNNER__MAX_RESPONSE_HEADER_BYTES": str(HEADER_BYTES),
    }
    with dev_server(project, root / "logs", env) as dev:
        yield dev
    shutil.rmtree(project / ".edgefn", ignore_errors=True)


def test_guest_output_is_kept_up_to_max_guest_output_bytes(small: DevServer) -> None:
    response = httpx.get(f"{small.ingress}/flood-stdout", timeout=60)
    assert response.status_code == 200
    kept = "".join(line["message"] for line in log_record(small, response.headers["x-request-id"])["logs"])
    assert kept.endswith(TRUNCATED)
    assert OUTPUT_BYTES - 10 <= len(kept.encode()) - len(TRUNCATED) <= OUTPUT_BYTES


def test_a_fetched_response_over_max_fetch_bytes_is_refused(
    small: DevServer, upstream: ThreadingHTTPServer
) -> None:
    url = url_of(upstream, "/ok")  # a 200 of about 150 bytes with its header fields
    response = httpx.post(f"{small.ingress}/fetch", content=fetch_request(url), timeout=30)
    assert (response.status_code, response.content) == (555, b"\x05")  # -5: over the limit


@pytest.mark.parametrize(("size", "status"), [(HEADER_BYTES, 200), (HEADER_BYTES + 1, 500)])
def test_guest_header_fields_over_max_response_header_bytes_are_a_bad_response(
    small: DevServer, size: int, status: int
) -> None:
    field = (b"x-a", b"v" * (size - len("x-a: \r\n")))  # counted as sent: name, ": ", value, CRLF
    response = httpx.post(f"{small.ingress}/mirror", content=guest_response(200, [field], b"ok"), timeout=30)
    assert response.status_code == status
    if status == 500:
        assert response.json()["error"] == "bad_response"
        assert f"over the {HEADER_BYTES}" in response.json()["detail"]
