"""`edgefn add`: a new function in one command, its source and all three tables, so a forgotten
`[[deployments]]` can no longer leave a route answering 404."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from edgehost.cli.dev_state import INGRESS_FILE, find_state_dir, read_state
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.project_file import open_project, project_option
from edgehost.cli.templates import TEMPLATES, function_toml, write_guest
from edgehost.project import ProjectError, load_project
from edgehost.project.schema import NAME, NAME_RULE  # the project file's own rule for names


@click.command()
@click.argument("name")
@click.option(
    "--template",
    type=click.Choice(sorted(TEMPLATES)),
    default="wat",
    show_default=True,
    help="the new function's language: WebAssembly text, C (built with the bundled zig), or a "
    "wasi:http component in Python (componentize-py) or JavaScript (componentize-js)",
)
@project_option
def add(name: str, template: str, project_path: Path) -> None:
    """Add function NAME: its source, a route /NAME and a deployment, in one step.

    Writes functions/NAME/NAME.wat (or .c, .js; app.py for Python) answering "Hello from
    NAME!" and appends its [[functions]], [[routes]] (path /NAME) and [[deployments]] (every
    node) tables to edgefn.toml. A running `edgefn dev` serves it at once.

    Refuses (exit status 2, nothing written) a NAME that is not a valid function name, or whose
    function, route or source file already exists.

    \b
    Examples:
      edgefn add api && curl http://127.0.0.1:8080/api
      edgefn add resize --template c
      edgefn add api --template python
    """
    if not NAME.fullmatch(name):
        raise CliError(f"{name!r} cannot name a function: a name is {NAME_RULE}", USAGE)
    project = open_project(project_path)
    if any(fn.name == name for fn in project.functions):
        raise CliError(f'{project.path} already has a function named "{name}"', USAGE)
    taken = [r for r in project.routes if r.host == "*" and r.path == f"/{name}"]
    if taken:
        raise CliError(f'{project.path} already routes /{name} (to "{taken[0].function}")', USAGE)
    original = project.path.read_text()
    guest = write_guest(project.path.parent, name, template, greeting=f"Hello from {name}!")
    tables = function_toml(name, template, guest)
    project.path.write_text(original + ("" if original.endswith("\n") else "\n") + "\n" + tables)
    try:
        load_project(project.path)
    except ProjectError as exc:  # never leave a project file that no longer loads
        project.path.write_text(original)
        with contextlib.suppress(OSError):
            (project.path.parent / guest).unlink()
        raise CliError(f"not added, the project would not load:\n{exc}", USAGE) from None
    click.echo(
        f"added {name}: {guest}, routed at /{name} and deployed to every node ({project.path.name})\n"
        f"edgefn dev serves it as soon as it is saved: curl {_ingress_url(project.path)}/{name}"
    )


def _ingress_url(project_file: Path) -> str:
    """The ingress of the project's running `edgefn dev`, else where a default one listens."""
    state_dir = find_state_dir(project_file)
    found = read_state(state_dir, INGRESS_FILE) if state_dir is not None else None
    return found or "http://127.0.0.1:8080"
