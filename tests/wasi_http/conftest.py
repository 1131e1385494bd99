"""One `edgefn dev` serving the WAT test components (tests/component_guests.py) beside the ABI v1
hello guest, through a real runner socket."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.component_guests import build_component
from tests.procs import REPO, DevServer, dev_server, write_project
from tests.sandbox.conftest import project_toml

PROJECT = "sandbox"  # tests.sandbox.conftest's failure helpers count metrics of this project

# name: (guest file, extra settings); echo.wasm answers by the first letter of the path
FUNCTIONS: dict[str, tuple[str, str]] = {
    "hello": ("hello.wat", ""),
    "minimal": ("minimal.wasm", "min_hot_instances = 1"),
    # a body crosses wasmtime's generic component values at ~60 ms per MiB each way
    "echo": ("echo.wasm", "memory_pages = 64\nmax_execution_ms = 3000"),
    "response": ("echo.wasm", "memory_pages = 64"),
    "vars": ("echo.wasm", 'memory_pages = 64\nenv = { GREETING = "hi there", MODE = "test" }'),
    "out": ("echo.wasm", "memory_pages = 64"),
    "wait": ("echo.wasm", "memory_pages = 64"),
    "loop": ("echo.wasm", "memory_pages = 64\nmax_execution_ms = 300"),
    "trap": ("echo.wasm", "memory_pages = 64"),
    "net": ("echo.wasm", "memory_pages = 64"),
}
MAX_BODY_BYTES = 1 << 20


@pytest.fixture(scope="session")
def components(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("components")
    files: dict[str, str | bytes] = {
        "hello.wat": (REPO / "functions/hello/hello.wat").read_text(),
        "minimal.wasm": build_component("minimal"),
        "echo.wasm": build_component("echo"),
    }
    project = write_project(root / PROJECT, project_toml(FUNCTIONS), files)
    env = {"EDGEFN_RUNNER__MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with dev_server(project, root / "logs", env) as dev:
        yield dev
    shutil.rmtree(project / ".edgefn", ignore_errors=True)
