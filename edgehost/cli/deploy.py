"""`edgefn deploy`, `rollback` and `status`: the developer's view of a control plane."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from edgehost.cli.client import DEFAULT_API, ApiClient, resolve_token
from edgehost.cli.errors import USAGE, CliError
from edgehost.guestbuild import GuestBuildError
from edgehost.project import ProjectError, load_project
from edgehost.project.apply import apply_project

api_option = click.option(
    "--api",
    default=DEFAULT_API,
    show_default=True,
    envvar="EDGEFN_API",
    help="the control plane's developer API",
)
token_option = click.option("--token", default=None, help="developer token [env: EDGEFN_TOKEN]")


@click.command()
@click.option(
    "--project",
    "project_path",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="edgefn.toml, or the folder holding it",
)
@api_option
@token_option
@click.option(
    "--prune", is_flag=True, help="undeploy functions the CP has but the project file does not name"
)
def deploy(project_path: Path, api: str, token: str | None, prune: bool) -> None:
    """Apply the project file to a control plane: changed artifacts, then routes, then deployments.

    \b
    Exit status: 0 applied, 1 refused by the control plane, 2 bad project file.
    Example:  edgefn deploy --api http://127.0.0.1:8787 --token "$(cat .edgefn/token)"
    """
    try:
        project = load_project(project_path)
    except ProjectError as exc:
        raise CliError(str(exc), USAGE) from None
    console = Console(stderr=True)
    with (
        ApiClient(api, resolve_token(token)) as client,
        Progress(
            TextColumn("uploading {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):

        def progress(name: str, size: int) -> Any:
            task = bar.add_task(name, total=size)
            return lambda sent: bar.advance(task, sent)

        try:
            result = apply_project(project, client, prune=prune, progress=progress)
        except GuestBuildError as exc:
            raise CliError(str(exc), USAGE) from None
    for line in result.lines:
        click.echo(line)
    click.echo(f"{project.name}: " + ("applied" if result.changed else "nothing changed"))


@click.command()
@click.argument("function")
@click.option(
    "--to", "to_version", type=click.IntRange(min=1), required=True, help="the version to run again"
)
@click.option("--project", "project_name", default=None, help="project name [default: from ./edgefn.toml]")
@api_option
@token_option
def rollback(function: str, to_version: int, project_name: str | None, api: str, token: str | None) -> None:
    """Undeploy the current version of FUNCTION and deploy --to VERSION where it ran, in one step."""
    if project_name is None:
        try:
            project_name = load_project(Path(".")).name
        except ProjectError as exc:
            raise CliError(
                f"pass --project, or run from a folder with a valid edgefn.toml ({exc})", USAGE
            ) from None
    with ApiClient(api, resolve_token(token)) as client:
        out = client.call(
            "POST",
            f"/v1/projects/{project_name}/functions/{function}/rollback",
            json={"to_version": to_version},
        )
    click.echo(
        f"rolled back {function}: v{out['from_version']} -> v{out['to_version']} where {out['selector']}"
    )


@click.command()
@api_option
@token_option
@click.option("--json", "as_json", is_flag=True, help="print the raw status document")
def status(api: str, token: str | None, as_json: bool) -> None:
    """Functions, versions, deployments and nodes with their states."""
    with ApiClient(api, resolve_token(token)) as client:
        doc = client.call("GET", "/v1/status")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    console = Console()
    for project in doc["projects"]:
        active = {d["function"]: d for d in project["deployments"]}
        table = Table(title=f"project {project['project']}")
        for column in ("function", "version", "state", "sha256", "deployed", "selector"):
            table.add_column(column)
        for fn in project["functions"]:
            for v in fn["versions"]:
                dep = active.get(fn["name"])
                live = "yes" if dep and dep["version"] == v["version"] else ""
                state = v["state"] + (f" ({v['reason']})" if v["reason"] else "")
                table.add_row(
                    fn["name"],
                    str(v["version"]),
                    state,
                    v["sha256"][:12],
                    live,
                    dep["selector"] if live and dep else "",
                )
        console.print(table)
    nodes = Table(title="nodes")
    for column in ("node", "status", "labels", "last heartbeat", "functions"):
        nodes.add_column(column)
    for node in doc["nodes"]:
        deployed = ", ".join(
            f"{d['function_id']} v{d['version']} {d['state']}" + (f" ({d['error']})" if d["error"] else "")
            for d in node["deployments"]
        )
        labels = ", ".join(f"{k}={v}" for k, v in sorted(node["labels"].items()))
        nodes.add_row(node["node_id"], node["status"], labels, node["last_heartbeat"], deployed)
    console.print(nodes)
