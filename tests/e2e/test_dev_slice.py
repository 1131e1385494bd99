"""The foundation slice: `edgefn dev` serves a real guest through real granian sockets."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.procs import REPO, dev_server, wait_until, write_project

TRAP_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle") (param i32 i32) (result i64) unreachable))
"""


def test_dev_serves_the_example_project(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    shutil.copytree(REPO / "functions" / "hello", project / "functions" / "hello")
    shutil.copy(REPO / "edgefn.toml", project / "edgefn.toml")
    with dev_server(project, tmp_path / "logs") as dev:
        response = httpx.get(f"{dev.ingress}/hello")
        assert response.status_code == 200
        assert response.text == "Hello from edgefn!\n"
        assert response.headers["content-type"] == "text/plain"
        assert len(response.headers["x-request-id"]) == 16
        assert httpx.get(f"{dev.metrics}/healthz").status_code == 200
        assert httpx.get(f"{dev.api}/healthz").json()["status"] == "ok"
        assert httpx.get(f"{dev.api}/schema/openapi.json").json()["info"]["title"] == "edgefn control plane"
        missing = httpx.get(f"{dev.ingress}/nope")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"
        assert httpx.post(f"{dev.ingress}/hello").status_code == 405
        lines = wait_until(
            lambda: [r for r in dev.json_lines() if r.get("path") == "/hello"], what="the invocation log line"
        )
        assert lines[0]["function_id"] == "demo.hello"
        assert lines[0]["execution_status"] == "ok"
        assert (project / ".edgefn" / "token").read_text().strip() == dev.token


def test_trapping_guest_answers_500_and_the_runner_keeps_serving(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        """
project = "traps"

[[functions]]
name = "boom"
wasm = "boom.wat"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[routes]]
path = "/boom"
function = "boom"

[[routes]]
path = "/hello"
function = "hello"

[[deployments]]
function = "boom"

[[deployments]]
function = "hello"
""",
        {"boom.wat": TRAP_WAT, "hello.wat": (REPO / "functions/hello/hello.wat").read_text()},
    )
    with dev_server(project, tmp_path / "logs") as dev:
        for _ in range(3):
            response = httpx.get(f"{dev.ingress}/boom")
            assert response.status_code == 500
            assert response.json()["error"] == "trap"
            assert "Traceback" not in response.text
        assert httpx.get(f"{dev.ingress}/hello").status_code == 200
