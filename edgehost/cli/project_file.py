"""The project file as the CLI opens it: a missing one points a newcomer at `edgefn init`."""

from __future__ import annotations

from pathlib import Path

import click

from edgehost.cli.errors import USAGE, CliError
from edgehost.project import PROJECT_FILE, Project, ProjectError, load_project

# `--project` of every command that reads a project file; the command takes `project_path`.
project_option = click.option(
    "--project",
    "project_path",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="edgefn.toml, or the folder holding it",
)


# `--project` of the commands that act on a project by name; the command takes `name`.
project_name_option = click.option(
    "--project", "name", default=None, help="project name [default: from ./edgefn.toml]"
)


def project_name(name: str | None) -> str:
    """`--project NAME` of the commands that act on a project by name, else the name in ./edgefn.toml."""
    if name is not None:
        return name
    try:
        return load_project(Path(".")).name
    except ProjectError as exc:
        message = f"pass --project, or run from a folder with a valid edgefn.toml ({exc})"
        raise CliError(message, USAGE) from None


def open_project(path: Path) -> Project:
    """The project at `path` (an edgefn.toml, or the folder holding one); CliError (exit 2) with
    every problem of a bad file, or a pointer to `edgefn init` when there is no file at all."""
    file = path / PROJECT_FILE if path.is_dir() else path
    if not file.exists():
        where = file.parent.resolve()
        raise CliError(
            f"no {file.name} in {where}: create a project there with `edgefn init`, "
            "or point --project at an existing one",
            USAGE,
        )
    try:
        return load_project(path)
    except ProjectError as exc:
        raise CliError(str(exc), USAGE) from None
