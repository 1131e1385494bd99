"""`fresh_instance = true` through a real `edgefn dev` (project file, control plane, runner, granian
socket): each request meets an instance that never served before, made ahead of it, and a failed
one is destroyed; without the key the same guest keeps its state between requests, unless a plugin
recognises it (hook `edgehost_serves_once`, as a toolchain recogniser does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.observability.metrics_text import sample
from tests.procs import REPO, DevServer, dev_server, get, wait_until, write_project

COUNTER = (REPO / "tests/guests/counter.wat").read_text()  # answers how many requests its instance got
READY_AHEAD = 2  # the fresh function's min_hot_instances
PROJECT = f"""project = "once"
[[functions]]
name = "kept"
wasm = "counter.wat"
max_hot_instances = 1
[[functions]]
name = "fresh"
wasm = "counter.wat"
fresh_instance = true
min_hot_instances = {READY_AHEAD}
max_hot_instances = 4
[[functions]]
name = "recognised"
wasm = "counter.wat"
[[routes]]
path = "/recognised"
function = "recognised"
[[deployments]]
function = "recognised"
[[routes]]
path = "/kept"
function = "kept"
[[routes]]
path = "/fresh"
function = "fresh"
[[deployments]]
function = "kept"
[[deployments]]
function = "fresh"
"""


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("fresh")
    plugin = {"EDGEFN_PLUGINS": json.dumps(["tests.runner.serves_once_plugin"]), "PYTHONPATH": str(REPO)}
    project = write_project(root / "p", PROJECT, {"counter.wat": COUNTER})
    with dev_server(project, root / "logs", plugin) as server:
        yield server


def counts(dev: DevServer, path: str, times: int) -> list[int]:
    answers = [get(f"{dev.ingress}{path}") for _ in range(times)]
    assert [a.status_code for a in answers] == [200] * times, answers[-1].text
    return [int(a.text) for a in answers]


def fails(dev: DevServer, path: str) -> None:
    """A POST traps in the guest after counting: 500 `trap`."""
    answer = httpx.post(f"{dev.ingress}{path}", timeout=10)
    assert (answer.status_code, answer.json()["error"]) == (500, "trap")


def metric(dev: DevServer, name: str) -> float:
    return sample(get(f"{dev.metrics}/metrics").text, name, function_id="once.fresh") or 0.0


def test_each_request_meets_a_fresh_instance_and_state_persists_without_the_key(dev: DevServer) -> None:
    assert counts(dev, "/fresh", 4) == [1, 1, 1, 1]
    assert counts(dev, "/kept", 3) == [1, 2, 3]  # one hot instance, reused: the counter goes on
    # A failure destroys the instance, whatever the key: the next request starts from nothing.
    fails(dev, "/kept")
    assert counts(dev, "/kept", 2) == [1, 2]
    fails(dev, "/fresh")
    assert counts(dev, "/fresh", 2) == [1, 1]


def test_a_guest_a_plugin_recognises_serves_once_without_the_key(dev: DevServer) -> None:
    assert counts(dev, "/recognised", 3) == [1, 1, 1]


def test_requests_take_instances_made_ahead_and_never_wait_for_one(dev: DevServer) -> None:
    """After each request the runner makes one instance ahead, off the request path: every request
    is a reuse of a ready instance (`edgefn_pool_reuses`), none made one on its way
    (`created` grows by exactly one per request, made after it)."""
    wait_until(lambda: metric(dev, "edgefn_pool_instances") == READY_AHEAD, what="the ready set")
    created, reused = (metric(dev, f"edgefn_pool_{m}_total") for m in ("instances_created", "reuses"))
    for n in range(1, 4):
        assert counts(dev, "/fresh", 1) == [1]
        wait_until(
            lambda n=n: (
                metric(dev, "edgefn_pool_instances_created_total") == created + n
                and metric(dev, "edgefn_pool_instances") == READY_AHEAD
            ),
            what="the instance made ahead of the next request",
        )
        assert metric(dev, "edgefn_pool_reuses_total") == reused + n


JS_PROJECT = """project = "js"
[[functions]]
name = "echo"
wasm = "echo.wasm"
memory_pages = 2048
max_execution_ms = 10000
[[routes]]
path = "/echo"
function = "echo"
[[deployments]]
function = "echo"
"""


@pytest.mark.toolchains
@pytest.mark.timeout(900)  # the control plane and the runner each compile the component (minutes when loaded)
def test_a_componentize_js_component_serves_every_request_without_the_key(
    tmp_path: Path, echo_js_component: Path
) -> None:
    """componentize-js 0.19's components answer once per instance ("respondWith can't be called
    twice"): the runner recognises the toolchain from the bytes and gives each request its own."""
    project = write_project(tmp_path / "p", JS_PROJECT, {"echo.wasm": echo_js_component.read_bytes()})
    server = DevServer(project, tmp_path / "logs")
    try:
        server.wait_ready(timeout=800)
        url = f"{server.ingress}/echo"
        first = wait_until(lambda: (a := get(url)).status_code != 404 and a, timeout=800, what="compiled")
        answers = [first, *(get(url) for _ in range(3))]
    finally:
        server.stop()
    assert [(a.status_code, a.headers.get("x-echo-count")) for a in answers] == [(200, "1")] * 4, answers[
        -1
    ].text
