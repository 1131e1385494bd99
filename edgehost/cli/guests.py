"""`edgefn build`: compile guests (C with the SDK, or WAT) and give them the control plane's checks."""

from __future__ import annotations

from pathlib import Path

import click

from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.project_file import open_project, project_option
from edgehost.cli.settings_loader import local_host_functions
from edgehost.cli.templates import COMPONENT_LIMITS
from edgehost.guestbuild import COMPONENT_TOOLCHAINS, GuestBuildError, build_guest
from edgehost.limits import DEFAULT_MAX_EXECUTION_MS, DEFAULT_MEMORY_PAGES
from edgehost.project.apply import build_artifacts
from edgehost.project.check import check_function
from edgehost.project.schema import FunctionDef


@click.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="[default: SOURCE.wasm]")
@project_option
def build(source: Path | None, output: Path | None, project_path: Path) -> None:
    """Build SOURCE (.wat, .c, .py or .js) into WebAssembly for edgefn (an ABI v1 module or a
    wasi:http component), or without SOURCE every function of the project file.

    .wat and .c become a core module (C with the bundled zig), .py a component built with
    componentize-py, .js or .mjs one built with componentize-js.

    Each module gets the checks the control plane runs before a version becomes ready (exports,
    imports, memory), offline: with the settings of the project's function built from SOURCE, or
    the defaults for a source the project file does not name (for .py and .js, the limits
    `edgefn init` writes for them). Deploy and dev build and check
    sources themselves; this is for checking guests or shipping a .wasm.

    \b
    Exit status: 0 built and accepted, 2 a guest does not build or would be refused.
    Examples:
      edgefn build                  (every function of ./edgefn.toml)
      edgefn build functions/hello/hello.wat
      edgefn build functions/api/api.c -o dist/api.wasm
      edgefn build functions/hello-py/app.py
    """
    try:
        if source is None:
            if output is not None:
                raise CliError("--output needs a SOURCE", USAGE)
            project = open_project(project_path)
            artifacts = build_artifacts(project, host_functions=local_host_functions())
            for fn in project.functions:
                click.echo(f"built {fn.name} from {fn.wasm} ({len(artifacts[fn.name])} bytes): accepted")
            return
        out = build_guest(source, output)
        project_name, fn = _function_of(source, project_path)
        check_function(project_name, fn, out.read_bytes(), host_functions=local_host_functions())
    except GuestBuildError as exc:
        raise CliError(str(exc), USAGE) from None
    click.echo(f"built {out} ({out.stat().st_size} bytes): accepted")


def _function_of(source: Path, project_path: Path) -> tuple[str, FunctionDef]:
    """The project's function built from `source`, or one with the defaults if none (or no
    readable project file) names it: (project name, function). The defaults of a Python or
    JavaScript source are the limits `edgefn init` writes for it (its language runtime needs
    more than the project file's defaults)."""
    component = source.suffix.lower() in COMPONENT_TOOLCHAINS
    default = FunctionDef(
        name=source.stem,
        wasm=source.resolve(),
        memory_pages=COMPONENT_LIMITS.memory_pages if component else DEFAULT_MEMORY_PAGES,
        max_execution_ms=COMPONENT_LIMITS.max_execution_ms if component else DEFAULT_MAX_EXECUTION_MS,
    )
    try:
        project = open_project(project_path)
    except CliError:
        return "build", default
    for fn in project.functions:
        if fn.wasm == source.resolve():
            return project.name, fn
    return project.name, default
