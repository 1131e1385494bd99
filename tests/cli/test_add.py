"""`edgefn add` writes a function's source and its three tables; `edgefn dev` serves it at once and
warns about a routed function that is deployed nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.procs import dev_server, get, run_cli, wait_until, write_project


def answers(url: str, text: str) -> bool:
    try:
        return get(url).text == text
    except OSError:
        return False


def test_add_then_dev_serves_the_new_function(tmp_path: Path) -> None:
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    with dev_server(project, tmp_path / "logs") as dev:
        added = run_cli("add", "api", cwd=project)
        assert added.returncode == 0, added.stderr
        assert (project / "functions" / "api" / "api.wat").is_file()
        assert f"curl {dev.ingress}/api" in added.stdout  # the running dev's port, not the default
        wait_until(lambda: answers(f"{dev.ingress}/api", "Hello from api!\n"), 60, what="/api")

        added_c = run_cli("add", "native", "--template", "c", "--project", str(project))
        assert added_c.returncode == 0, added_c.stderr
        wait_until(lambda: answers(f"{dev.ingress}/native", "Hello from native!\n"), 90, what="/native")
        assert answers(f"{dev.ingress}/hello", "Hello from edgefn!\n")
        assert "warning" not in dev.stderr


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("hello", 'already has a function named "hello"'),
        ("Hello_World", "cannot name a function: a name is 1 to 63 characters of a-z"),
        ("x-", "cannot name a function"),
        ("x" * 64, "cannot name a function"),
        ("taken", 'already routes /taken (to "hello")'),
    ],
)
def test_add_refuses_a_taken_or_invalid_name_and_writes_nothing(tmp_path: Path, name: str, why: str) -> None:
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    toml = project / "edgefn.toml"
    toml.write_text(toml.read_text() + '\n[[routes]]\npath = "/taken"\nfunction = "hello"\n')
    before = toml.read_text()
    result = run_cli("add", name, cwd=project)
    assert result.returncode == 2
    assert why in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert toml.read_text() == before
    assert sorted(p.name for p in (project / "functions").iterdir()) == ["hello"]


def test_dev_warns_about_a_routed_function_deployed_nowhere(tmp_path: Path) -> None:
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    project = tmp_path / "proj"
    toml = project / "edgefn.toml"
    text = toml.read_text()
    toml.write_text(text[: text.index("[[deployments]]")])
    with dev_server(project, tmp_path / "logs") as dev:
        warnings = [line for line in dev.stderr.splitlines() if line.startswith("warning:")]
        assert warnings == [
            "warning: hello is routed but deployed nowhere, so its routes answer 404; "
            'add [[deployments]] function = "hello" to edgefn.toml'
        ]


def test_add_writes_what_a_project_file_test_would_accept(tmp_path: Path) -> None:
    project = write_project(tmp_path, 'project = "p"')  # no trailing newline, no function yet
    assert run_cli("add", "first", cwd=project).returncode == 0
    assert run_cli("add", "second", cwd=project).returncode == 0
    built = run_cli("build", "functions/second/second.wat", cwd=project)
    assert built.returncode == 0, built.stderr
