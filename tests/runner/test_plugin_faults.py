"""One policy for plugin calls on the request path, proven on a real `edgefn dev` with a faulty plugin.

A raising `edgehost_admit` or `edgehost_invocation_started` answers 500 JSON `plugin_failed` with the
request id, is logged with the plugin's name and counted, and gives the tenant's concurrency slot
back: more failures than `quotas.max_concurrent` and the tenant is still served. A raising
`edgehost_invocation_finished` leaves the answer alone and is logged and counted too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import pytest

from tests.observability.metrics_text import sample
from tests.procs import REPO, DevServer, dev_server, wait_until, write_project
from tests.sandbox.conftest import log_record

PROJECT = "faults"
MAX_CONCURRENT = 2
PATHS = ["/ok", "/admit-raises", "/admit-answers-101", "/started-raises", "/finished-raises", "/bad-header"]
PLUGIN = "tests.runner.faulty_plugin"  # a plugin from the `plugins` setting is named by its module path


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("faults")
    routes = "".join(f'[[routes]]\npath = "{path}"\nfunction = "hello"\n\n' for path in PATHS)
    toml = (
        f'project = "{PROJECT}"\n\n[[functions]]\nname = "hello"\nwasm = "hello.wat"\n\n'
        f'{routes}[[deployments]]\nfunction = "hello"\n'
    )
    project = write_project(
        root / PROJECT, toml, {"hello.wat": (REPO / "functions/hello/hello.wat").read_text()}
    )
    env = {
        "EDGEFN_PLUGINS": json.dumps([PLUGIN]),
        "PYTHONPATH": str(REPO),
        "EDGEFN_QUOTAS__MAX_CONCURRENT": str(MAX_CONCURRENT),
    }
    with dev_server(project, root / "logs", env) as dev:
        yield dev
    shutil.rmtree(project / ".edgefn", ignore_errors=True)


def metrics(dev: DevServer) -> str:
    return httpx.get(f"{dev.metrics}/metrics", timeout=10).text


def plugin_errors(dev: DevServer, hook: str) -> float:
    return sample(metrics(dev), "edgefn_plugin_errors_total", plugin=PLUGIN, hook=hook) or 0.0


@pytest.mark.parametrize(
    ("path", "hook"),
    [
        ("/admit-raises", "edgehost_admit"),
        ("/admit-answers-101", "edgehost_admit"),
        ("/started-raises", "edgehost_invocation_started"),
    ],
)
def test_a_failing_hook_answers_500_json_is_logged_counted_and_never_leaks_the_slot(
    faulty: DevServer, path: str, hook: str
) -> None:
    before = plugin_errors(faulty, hook)
    failures = 3 * MAX_CONCURRENT  # each would hold a slot if the failure leaked it
    for _ in range(failures):
        response = httpx.get(f"{faulty.ingress}{path}", timeout=10)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert error["error"] == "plugin_failed"
        assert error["request_id"] == response.headers["x-request-id"]
        assert PLUGIN in error["detail"] and hook in error["detail"]
        assert "Traceback" not in error["detail"]
    wait_until(lambda: plugin_errors(faulty, hook) == before + failures, what=f"{hook} failures counted")
    record = log_record(faulty, error["request_id"])
    assert (record["status"], record["error_code"]) == (500, "plugin_failed")
    assert f"plugin {PLUGIN} failed in {hook}" in faulty.stderr  # the operator's log names the plugin
    assert sample(metrics(faulty), "edgefn_quota_running", tenant=PROJECT) == 0
    assert httpx.get(f"{faulty.ingress}/ok", timeout=10).status_code == 200  # the tenant is still served


def test_a_failing_observer_leaves_the_answer_alone_and_is_counted(faulty: DevServer) -> None:
    before = plugin_errors(faulty, "edgehost_invocation_finished")
    for _ in range(3 * MAX_CONCURRENT):
        response = httpx.get(f"{faulty.ingress}/finished-raises", timeout=10)
        assert response.status_code == 200
    wait_until(
        lambda: plugin_errors(faulty, "edgehost_invocation_finished") == before + 3 * MAX_CONCURRENT,
        what="observer failures counted",
    )
    assert httpx.get(f"{faulty.ingress}/ok", timeout=10).status_code == 200


def test_an_invalid_plugin_response_header_is_dropped_not_sent(faulty: DevServer) -> None:
    response = httpx.get(f"{faulty.ingress}/bad-header", timeout=10)
    assert response.status_code == 200  # not granian's plain-text 500
    assert "x-plugin" not in response.headers
    assert "x-injected" not in response.headers
    assert response.headers["x-plugin-ok"] == "fine"
    wait_until(
        lambda: "invalid response header 'x-plugin'" in faulty.stderr, what="the dropped header logged"
    )
