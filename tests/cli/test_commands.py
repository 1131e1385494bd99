"""Every command answers --help with examples, and `edgefn init` makes a valid project wherever it is run."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgehost.cli.main import COMMANDS
from tests.procs import run_cli


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"serve", "tail"}))  # those two are not this suite's
def test_help_has_examples(name: str) -> None:
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_summary_is_the_commands_own(name: str) -> None:
    """`edgefn --help` lists COMMANDS' summaries without importing the commands; they must not drift."""
    path, summary = COMMANDS[name]
    module, attr = path.split(":")
    command = getattr(importlib.import_module(module), attr)
    assert summary == command.get_short_help_str(limit=10_000)


def test_help_lists_every_command_without_importing_the_server_stack() -> None:
    listed = run_cli("--help")
    assert listed.returncode == 0, listed.stderr
    for name, (_, summary) in COMMANDS.items():
        assert re.search(rf"^  {name} +{re.escape(summary[:30])}", listed.stdout, re.M), listed.stdout
    probe = (
        "import sys; from edgehost.cli.main import cli\n"
        "try: cli(['--help'], prog_name='edgefn')\n"
        "except SystemExit: pass\n"
        "heavy = ('litestar', 'wasmtime', 'piccolo', 'cel', 'edgehost.plugins.auth')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip().splitlines()[-1] == "[]", loaded.stdout + loaded.stderr


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
