"""`edgefn init`: a project that `edgefn dev` serves as is, so a newcomer's first command works."""

from __future__ import annotations

import re
from pathlib import Path

import click

from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.templates import TEMPLATES, function_toml, write_guest
from edgehost.project import PROJECT_FILE

PROJECT_TOML = """\
# The project file: see docs/project-file.md for every key.
project = "{project}"

"""
GITIGNORE = ".edgefn/\n*.wasm\n"


def project_name(directory: Path) -> str:
    """The folder's name made safe for the `project` key ([a-z0-9-], at most 63 characters)."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")[:63].strip("-")
    return name or "demo"


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=Path("."))
@click.option(
    "--template",
    type=click.Choice(sorted(TEMPLATES)),
    default="wat",
    show_default=True,
    help="the hello function's language: WebAssembly text, C (built with the bundled zig), or a "
    "wasi:http component in Python (componentize-py) or JavaScript (componentize-js)",
)
def init(directory: Path, template: str) -> None:
    """Create a project in DIRECTORY (default: here): edgefn.toml and a hello function.

    Refuses to touch a folder that already holds an edgefn.toml (exit status 2).

    \b
    Examples:
      edgefn init hello-edge && cd hello-edge && edgefn dev
      edgefn init api --template c
      edgefn init shop --template python
    """
    project_file = directory / PROJECT_FILE
    if project_file.exists():
        raise CliError(f"{project_file} already exists; not overwriting it", USAGE)
    relative = write_guest(directory, "hello", template)
    guest = directory / relative
    project_toml = PROJECT_TOML.format(project=project_name(directory))
    project_file.write_text(project_toml + function_toml("hello", template, relative))
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE)
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(
        f"created {project_file} and {guest}\n"
        f"next: {where}edgefn dev   then: curl http://127.0.0.1:8080/hello"
    )
