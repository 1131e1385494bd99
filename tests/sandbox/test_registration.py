"""What registration refuses or reports, and host functions contributed by a plugin."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.procs import REPO, DevServer, dev_server, run_cli, write_project
from tests.sandbox.conftest import guest_files, project_toml

ADD_ONE = {"hello": ("hello.wat", ""), "add-one": ("add_one.wat", "")}
PLUGIN_ENV = {"EDGEFN_PLUGINS": json.dumps(["tests.sandbox.addone_plugin"]), "PYTHONPATH": str(REPO)}


def test_denied_wasi_imports_are_reported_at_registration(sandbox: DevServer) -> None:
    assert (
        "(imports denied WASI calls: wasi_snapshot_preview1.path_open, wasi_snapshot_preview1.sock_accept)"
        in sandbox.stderr
    )


def test_an_unknown_edgefn_import_is_refused_by_dev_and_deploy_naming_it(tmp_path: Path) -> None:
    project = write_project(tmp_path / "plain", project_toml(ADD_ONE, "plain"), guest_files(ADD_ONE))
    with dev_server(project, tmp_path / "logs") as dev:
        assert "edgefn.add_one, which the runner does not provide" in dev.stderr
        assert httpx.get(f"{dev.ingress}/add-one", timeout=10).status_code == 404
        nope = {"nope": ("nope.wat", "")}
        other = write_project(tmp_path / "nope", project_toml(nope, "nope"), guest_files(nope))
        result = run_cli("deploy", "--project", str(other), "--api", dev.api, "--token", dev.token)
        assert result.returncode == 2, result.stdout + result.stderr  # refused before sending
        assert "edgefn.nope, which the runner does not provide" in result.stdout + result.stderr


def test_a_plugin_host_function_registers_and_runs(tmp_path: Path) -> None:
    project = write_project(tmp_path / "plugged", project_toml(ADD_ONE, "plugged"), guest_files(ADD_ONE))
    with dev_server(project, tmp_path / "logs", PLUGIN_ENV) as dev:
        response = httpx.get(f"{dev.ingress}/add-one", timeout=10)
        assert response.status_code == 200  # add_one.wat answers with status add_one(199)
        assert httpx.get(f"{dev.ingress}/hello", timeout=10).status_code == 200
