"""Inside a project folder whose `edgefn dev` runs, commands find its API and token by themselves.

`edgefn dev` runs on free (so never the default) ports here: a command that fell back to the
default address, or to no token, would fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgehost.cli.dev_state import find_state_dir
from tests.procs import EdgefnProcess, dev_server, get, run_cli, wait_until


@pytest.fixture(autouse=True)
def _no_target_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EDGEFN_TOKEN", "EDGEFN_API"):
        monkeypatch.delenv(name, raising=False)


def test_commands_in_the_project_folder_need_no_token_or_api(tmp_path: Path) -> None:
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    source = project / "functions" / "hello" / "hello.wat"
    with dev_server(project, tmp_path / "logs") as dev:
        assert f"--api {dev.api}" in dev.stderr  # the hint for other folders names this dev's port
        assert "find this API and its token" in dev.stderr
        assert (dev.state_dir / "api").read_text().strip() == dev.api

        status = run_cli("status", "--json", cwd=project / "functions" / "hello")  # a subfolder too
        assert status.returncode == 0, status.stderr
        assert '"hello"' in status.stdout
        nodes = run_cli("nodes", "--json", cwd=project)  # an operator command (dev's token has the role)
        assert nodes.returncode == 0 and '"node_id"' in nodes.stdout, nodes.stderr

        tail = EdgefnProcess(
            ["tail", "hello", "--format", "pretty"],
            cwd=project,
            env=None,
            log_dir=tmp_path / "logs",
            name="tail",
        )
        try:
            wait_until(lambda: "tailing proj (hello)" in tail.stderr or tail.proc.poll() is not None, 30)
            assert tail.proc.poll() is None, tail.stderr
            assert get(f"{dev.ingress}/hello").status_code == 200
            wait_until(lambda: re.search(r"^\d\d:\d\d:\d\d 200 GET /hello  hello v1 ", tail.stdout, re.M))
        finally:
            tail.stop()

        source.write_text(source.read_text().replace("Hello from edgefn!", "Hello, v2!"))
        deployed = run_cli("deploy", cwd=project)
        assert deployed.returncode == 0, deployed.stderr
        rolled = run_cli("rollback", "hello", "--to", "1", cwd=project)
        assert rolled.returncode == 0, rolled.stderr
        assert "-> v1" in rolled.stdout

        # Flags and the environment still win over what the folder says.
        bad_token = run_cli("status", "--token", "not-a-token", cwd=project)
        assert bad_token.returncode == 1 and "401" in bad_token.stderr, bad_token.stderr
        elsewhere = run_cli("status", cwd=project, env={"EDGEFN_API": "http://127.0.0.1:9"})
        assert elsewhere.returncode == 1 and "127.0.0.1:9" in elsewhere.stderr, elsewhere.stderr
    assert not (dev.state_dir / "api").exists()  # a stopped dev leaves no address to mislead


def test_outside_a_project_the_token_is_still_required(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 2
    assert "no token" in result.stderr and "Traceback" not in result.stderr


def test_a_nested_project_does_not_borrow_its_parents_dev(tmp_path: Path) -> None:
    (tmp_path / ".edgefn").mkdir()
    inner = tmp_path / "inner"
    (inner / "src").mkdir(parents=True)
    assert find_state_dir(tmp_path / "sub" / "file.wat") == tmp_path / ".edgefn"
    (inner / "edgefn.toml").write_text('project = "inner"\n')
    assert find_state_dir(inner / "src") is None
    assert find_state_dir(tmp_path) == tmp_path / ".edgefn"


def test_tail_of_a_function_the_project_lacks_says_so(tmp_path: Path) -> None:
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    with dev_server(project, tmp_path / "logs"):
        result = run_cli("tail", "nosuchfn", cwd=project, timeout=30)
        assert result.returncode == 2
        assert (
            result.stderr.strip() == 'error: project "proj" has no function "nosuchfn" (its functions: hello)'
        )
        other = run_cli("tail", "hello", "--project", "elsewhere", cwd=project, timeout=30)
        assert other.returncode == 2 and 'no project "elsewhere"' in other.stderr, other.stderr


def test_dev_without_a_project_file_suggests_init(tmp_path: Path) -> None:
    for command in (["dev"], ["deploy", "--token", "t"], ["add", "api"]):
        result = run_cli(*command, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"error: no edgefn.toml in {tmp_path.resolve()}: create a project there with `edgefn init`, "
            "or point --project at an existing one"
        )
