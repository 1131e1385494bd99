"""`apply_project` against a real control plane returns typed steps (decoded through the CP's own
schemas by `edgehost.client`), which the CLI renders; the project layer never imports the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from edgehost.cli.plan_view import render_plan
from edgehost.cli.settings_loader import local_host_functions
from edgehost.client import ApiClient, ClientError
from edgehost.project import load_project
from edgehost.project import plan as steps
from edgehost.project.apply import apply_project
from tests.cli.helpers import ControlPlane, hello_project

HOSTS = local_host_functions()  # what the guests are checked against before anything is sent


def test_apply_returns_the_steps_it_took(control_plane: ControlPlane, tmp_path: Path) -> None:
    folder = hello_project(tmp_path / "p", "planned", "hello", "echo")
    with ApiClient(control_plane.api, control_plane.token("alice")) as client:
        first = apply_project(load_project(folder), client, host_functions=HOSTS)
        uploaded = [s for s in first.steps if isinstance(s, steps.FunctionUploaded)]
        assert [(s.name, s.version) for s in uploaded] == [("hello", 1), ("echo", 1)]
        assert all(len(s.sha256) == 64 for s in uploaded)
        assert {s.path for s in first.steps if isinstance(s, steps.RouteChanged) and s.added} == {
            "/planned/hello",
            "/planned/echo",
        }
        assert [(s.function, s.version) for s in first.steps if isinstance(s, steps.DeploymentMade)] == [
            ("hello", 1),
            ("echo", 1),
        ]
        assert first.changed

        again = apply_project(load_project(folder), client, host_functions=HOSTS)
        assert again.steps == [
            steps.FunctionKept("hello", 1),
            steps.FunctionKept("echo", 1),
            steps.RoutesKept(2),
            steps.DeploymentKept("hello", 1, "true"),
            steps.DeploymentKept("echo", 1, "true"),
        ]
        assert not again.changed
        assert render_plan(again, "edgefn.toml")[0] == "= hello v1 unchanged"

        smaller = hello_project(tmp_path / "q", "planned", "hello")
        kept = apply_project(load_project(smaller), client, host_functions=HOSTS)
        assert kept.steps[-1] == steps.FunctionDropped("echo", undeployed=False)
        pruned = apply_project(load_project(smaller), client, host_functions=HOSTS, prune=True)
        assert pruned.steps[-1] == steps.FunctionDropped("echo", undeployed=True)
        assert render_plan(pruned, "edgefn.toml")[-1] == "- echo undeployed (not in edgefn.toml)"


def test_an_answer_that_is_not_the_cps_schema_is_a_client_error() -> None:
    client = ApiClient("http://cp.invalid", "t")
    client.http = httpx.Client(
        base_url="http://cp.invalid",
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"functions": [{"name": 1}]})),
    )
    with pytest.raises(ClientError, match=r"answer to GET /v1/projects/p/functions is not a FunctionList"):
        client.functions("p")


def test_a_missing_project_has_no_functions_routes_or_deployments() -> None:
    client = ApiClient("http://cp.invalid", "t")
    client.http = httpx.Client(
        base_url="http://cp.invalid",
        transport=httpx.MockTransport(lambda _: httpx.Response(404, json={"error": "not_found"})),
    )
    assert client.functions("p").functions == []
    assert client.routes("p").routes == []
    assert client.deployments("p").deployments == []


def test_the_project_layer_does_not_import_the_cli() -> None:
    probe = (
        "import sys, edgehost.project.apply, edgehost.project.plan, edgehost.client\n"
        "print(sorted(m for m in sys.modules if m == 'edgehost.cli' or m.startswith('edgehost.cli.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
