"""`edgefn deploy`, `status`, `rollback` against a separately started control plane."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.helpers import ControlPlane, hello_project
from tests.procs import run_cli
from tests.services import free_port


def deploy(cp: ControlPlane, project: Path, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    result = run_cli("deploy", "--api", cp.api, "--token", token, *extra, cwd=project)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_deploy_uploads_only_what_changed_and_is_idempotent(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    token = control_plane.token("alice")
    project = hello_project(tmp_path / "p", "idem", "hello", "echo")

    first = deploy(control_plane, project, token)
    assert first.returncode == 0, first.stderr
    assert "+ hello v1" in first.stdout and "+ echo v1" in first.stdout
    assert "uploading" not in first.stderr  # no progress bar when nobody watches a terminal

    again = deploy(control_plane, project, token)
    assert again.returncode == 0, again.stderr
    assert "= hello v1 unchanged" in again.stdout and "= echo v1 unchanged" in again.stdout
    assert again.stdout.strip().endswith("idem: nothing changed")
    assert control_plane.versions("idem", token) == {"hello": [1], "echo": [1]}

    source = project / "hello.wat"
    source.write_text(source.read_text().replace("Hello from hello!", "Hello again!"))
    changed = deploy(control_plane, project, token)
    assert changed.returncode == 0, changed.stderr
    assert "+ hello v2" in changed.stdout and "= echo v1 unchanged" in changed.stdout
    assert control_plane.versions("idem", token) == {"hello": [1, 2], "echo": [1]}
    live = control_plane.get("/v1/projects/idem/deployments", token)["deployments"]
    assert {d["function"]: d["version"] for d in live} == {"hello": 2, "echo": 1}


def test_status_and_rollback(control_plane: ControlPlane, tmp_path: Path) -> None:
    token = control_plane.token("carol")
    project = hello_project(tmp_path / "p", "rolls", "hello")
    assert deploy(control_plane, project, token).returncode == 0
    source = project / "hello.wat"
    source.write_text(source.read_text().replace("Hello from hello!", "v2 here"))
    assert "+ hello v2" in deploy(control_plane, project, token).stdout

    as_json = run_cli("status", "--json", "--api", control_plane.api, "--token", token)
    assert as_json.returncode == 0, as_json.stderr
    (doc,) = [p for p in json.loads(as_json.stdout)["projects"] if p["project"] == "rolls"]
    assert sorted(v["version"] for v in doc["functions"][0]["versions"]) == [1, 2]
    table = run_cli("status", "--api", control_plane.api, "--token", token)
    assert table.returncode == 0, table.stderr
    assert "project rolls: functions" in table.stdout and "ready" in table.stdout

    back = run_cli(
        "rollback", "hello", "--to", "1", "--api", control_plane.api, "--token", token, cwd=project
    )
    assert back.returncode == 0, back.stderr
    assert "v2 -> v1" in back.stdout
    live = control_plane.get("/v1/projects/rolls/deployments", token)["deployments"]
    assert [(d["function"], d["version"]) for d in live] == [("hello", 1)]

    twice = run_cli(
        "rollback", "hello", "--to", "1", "--api", control_plane.api, "--token", token, cwd=project
    )
    assert twice.returncode == 1
    assert "already" in twice.stderr and "Traceback" not in twice.stderr

    # The file still says v2's bytes: deploying again brings v2 back without a new upload.
    redeploy = deploy(control_plane, project, token)
    assert "= hello v2 unchanged" in redeploy.stdout
    assert (
        "+ deploy hello v2 where true (no node yet; replaces v1, undoing the rollback to it)"
        in redeploy.stdout
    )
    again = deploy(control_plane, project, token)  # nothing rolled back any more: no note
    assert "undoing" not in again.stdout and "nothing changed" in again.stdout
    assert control_plane.versions("rolls", token) == {"hello": [1, 2]}


def test_prune_undeploys_what_the_file_no_longer_names(control_plane: ControlPlane, tmp_path: Path) -> None:
    token = control_plane.token("dave")
    project = hello_project(tmp_path / "p", "prunes", "keep", "drop")
    assert deploy(control_plane, project, token).returncode == 0
    hello_project(project, "prunes", "keep")  # rewrites edgefn.toml without "drop"

    listed = deploy(control_plane, project, token)
    assert listed.returncode == 0
    assert "? drop is deployed but not in edgefn.toml" in listed.stdout
    assert {
        d["function"] for d in control_plane.get("/v1/projects/prunes/deployments", token)["deployments"]
    } == {
        "keep",
        "drop",
    }

    pruned = deploy(control_plane, project, token, "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "- drop undeployed" in pruned.stdout
    live = control_plane.get("/v1/projects/prunes/deployments", token)["deployments"]
    assert [d["function"] for d in live] == ["keep"]
    assert deploy(control_plane, project, token, "--prune").stdout.strip().endswith("nothing changed")


def test_refusals_exit_1_with_the_reason(control_plane: ControlPlane, tmp_path: Path) -> None:
    owner = control_plane.token("erin")
    project = hello_project(tmp_path / "p", "owned", "hello")
    assert deploy(control_plane, project, owner).returncode == 0

    other = deploy(control_plane, project, control_plane.token("mallory"))
    assert other.returncode == 1
    assert "403" in other.stderr and "mallory" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1

    garbage = deploy(control_plane, project, "not-a-token")
    assert garbage.returncode == 1 and "401" in garbage.stderr

    unreachable = run_cli("deploy", "--api", f"http://127.0.0.1:{free_port()}", "--token", owner, cwd=project)
    assert unreachable.returncode == 1
    assert "cannot reach the control plane" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert control_plane.versions("owned", owner) == {"hello": [1]}


def test_a_module_no_runner_can_link_is_refused_with_the_import_named(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    token = control_plane.token("frank")
    project = hello_project(tmp_path / "p", "unlinkable", "hello")
    source = project / "hello.wat"
    log = '(import "edgefn" "log" (func (param i32 i32)))'  # the ABI's has a level first
    source.write_text(source.read_text().replace("(module", f"(module {log}", 1))
    refused = deploy(control_plane, project, token)
    # Refused before sending (tests/cli/test_deploy_checks.py), in the control plane's own words.
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        "function hello (hello.wat): "
        "the module imports edgefn.log as a function (i32, i32) -> (), "
        "but the runner provides a function (i32, i32, i32) -> ()"
    ) in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
