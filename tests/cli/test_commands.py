"""Every command answers --help with examples, and `edgefn init` makes a valid project wherever it is run."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgehost.cli.main import COMMANDS
from tests.procs import run_cli


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"serve", "tail"}))  # those two are not this suite's
def test_help_has_examples(name: str) -> None:
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout


def test_init_names_the_project_after_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "My Shop_2"
    folder.mkdir()
    result = run_cli("init", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert 'project = "my-shop-2"' in (folder / "edgefn.toml").read_text()
    assert "next: edgefn dev" in result.stdout
    built = run_cli("build", "functions/hello/hello.wat", cwd=folder)
    assert built.returncode == 0, built.stderr
    assert (folder / "functions" / "hello" / "hello.wasm").read_bytes().startswith(b"\0asm")
