"""Project files written for one test: a folder with a module, and the problems loading it reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgehost.project import ProjectError, load_project

# One function and nothing else; tests append the keys under test to its table.
ONE_FUNCTION = 'project = "demo"\n[[functions]]\nname = "hello"\nwasm = "hello.wat"\n'
WHERE = 'edgefn.toml: [[functions]] #1 "hello"'  # how problems name that function's table


def hello_folder(folder: Path) -> Path:
    """`folder` with the `hello.wat` that ONE_FUNCTION names."""
    (folder / "hello.wat").write_text("(module)")
    return folder


def problems_of(folder: Path, text: str) -> list[str]:
    """The problems `text`, as the folder's edgefn.toml, is refused with (it must be refused)."""
    (folder / "edgefn.toml").write_text(text)
    with pytest.raises(ProjectError) as caught:
        load_project(folder)
    return caught.value.problems
