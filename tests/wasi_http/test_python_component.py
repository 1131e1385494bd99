"""A real componentize-py component (tests/guests/components/echo_py, built by tests/components.py)
through a real runner socket: what the ABI v1 guests are promised, for a standard guest."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest

from tests.components import ECHO_PY, python_component
from tests.procs import REPO, DevServer, get, wait_until, write_project
from tests.sandbox.conftest import error_count, log_record, project_toml

# One function (registration and the runner each compile the 18 MB component, tens of seconds):
# CPython inside wants 64 MiB of memory, and a new instance's first request takes ~20 ms.
FUNCTIONS: dict[str, tuple[str, str]] = {
    "hello": ("hello.wat", ""),
    "py": (
        "echo_py.wasm",
        "memory_pages = 1024\nmax_execution_ms = 1500\nmin_hot_instances = 1\n"
        'env = { GREETING = "hello, env" }',
    ),
}
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def python_guests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("python-guests")
    files: dict[str, str | bytes] = {
        "hello.wat": (REPO / "functions/hello/hello.wat").read_text(),
        "echo_py.wasm": python_component(ECHO_PY).read_bytes(),
    }
    project = write_project(root / "sandbox", project_toml(FUNCTIONS), files)
    dev = DevServer(project, root / "logs")
    try:
        dev.wait_ready(timeout=300)
        wait_until(lambda: get(f"{dev.ingress}/py?do=status").status_code == 200, timeout=300, what="py")
        yield dev
    finally:
        dev.stop()
    shutil.rmtree(project / ".edgefn", ignore_errors=True)


def expect_failure(dev: DevServer, function: str, query: str, status: int, code: str) -> None:
    """One failing request, proven by its answer, its metric, its log line, and the runner
    answering the next request."""
    before = error_count(dev, function, code)
    response = httpx.get(f"{dev.ingress}/{function}?{query}", timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert "Traceback" not in response.json()["detail"]
    wait_until(lambda: error_count(dev, function, code) == before + 1, what=f"{code} counted for {function}")
    assert log_record(dev, response.headers["x-request-id"])["error_code"] == code
    assert get(f"{dev.ingress}/py?do=status").status_code == 200


def test_echo_of_method_path_query_headers_and_a_streamed_megabyte(python_guests: DevServer) -> None:
    body = bytes(range(256)) * 4096
    response = httpx.post(
        f"{python_guests.ingress}/py?a=1&b=two", content=body, headers={"x-thing": "v"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-echo-method"] == "POST"
    assert response.headers["x-echo-path"] == "/py?a=1&b=two"
    assert response.headers["x-echo-header-x-thing"] == "v"
    assert response.content == body


def test_a_streamed_response_arrives_whole(python_guests: DevServer) -> None:
    response = httpx.get(f"{python_guests.ingress}/py?do=stream&size=300000", timeout=60)
    assert response.status_code == 200
    assert response.content == (bytes(range(256)) * 1200)[:300000]


def test_the_environment_comes_from_env(python_guests: DevServer) -> None:
    response = get(f"{python_guests.ingress}/py?do=env&name=GREETING")
    assert response.status_code == 200
    assert response.text == "hello, env"


def test_stdout_and_stderr_go_into_the_invocation_log(python_guests: DevServer) -> None:
    response = get(f"{python_guests.ingress}/py?do=print&text=spoken")
    assert response.status_code == 200
    logs = log_record(python_guests, response.headers["x-request-id"])["logs"]
    assert [(line["source"], line["message"]) for line in logs] == [
        ("stdout", "spoken"),
        ("stderr", "err:spoken"),
    ]


def test_a_hot_instance_serves_request_after_request(python_guests: DevServer) -> None:
    counts = [int(get(f"{python_guests.ingress}/py?do=status").headers["x-echo-count"]) for _ in range(3)]
    assert counts[1:] == [counts[0] + 1, counts[0] + 2]


def test_a_runaway_python_component_answers_504_and_the_runner_keeps_serving(
    python_guests: DevServer,
) -> None:
    expect_failure(python_guests, "py", "do=loop", 504, "timeout")


def test_a_raising_python_component_answers_500_trap(python_guests: DevServer) -> None:
    expect_failure(python_guests, "py", "do=raise", 500, "trap")
