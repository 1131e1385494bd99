"""`edgefn deploy`, `rollback` and `status`: the developer's view of a control plane."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from edgehost.cli.client import DEFAULT_API, resolve_target
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.plan_view import render_plan
from edgehost.cli.project_file import open_project, project_name, project_name_option, project_option
from edgehost.cli.settings_loader import local_host_functions
from edgehost.cli.status_view import print_status
from edgehost.client import ApiClient
from edgehost.guestbuild import GuestBuildError
from edgehost.project.apply import apply_project


def _api_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Reject a malformed URL as a usage error (2) rather than as an unreachable CP (1)."""
    if value is None:
        return None
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - parsing the port is part of the check
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise click.BadParameter(f"{value!r} is not an http(s):// URL")
    return value


api_option = click.option(
    "--api",
    default=None,
    envvar="EDGEFN_API",
    callback=_api_url,
    help="the control plane's developer API [env: EDGEFN_API; default: the address of the "
    f"project's running `edgefn dev` (.edgefn/api), else {DEFAULT_API}]",
)
token_option = click.option(
    "--token",
    default=None,
    help="developer token [env: EDGEFN_TOKEN; default: the project's `edgefn dev` token (.edgefn/token)]",
)


@click.command()
@project_option
@api_option
@token_option
@click.option(
    "--prune", is_flag=True, help="undeploy functions the CP has but the project file does not name"
)
def deploy(project_path: Path, api: str | None, token: str | None, prune: bool) -> None:
    """Apply the project file to a control plane: changed artifacts, then routes, then deployments.

    Only artifacts whose SHA-256 or settings differ from what the control plane holds are uploaded;
    a second run with nothing changed changes nothing. The project file is validated and every
    guest built and given the control plane's own module checks before the first request, so a
    bad project file or guest sends nothing and uses up no version.

    \b
    Exit status: 0 applied, 1 refused by (or cannot reach) the control plane, 2 bad project file.
    Examples:
      edgefn deploy                 (in the folder of a project whose `edgefn dev` runs)
      edgefn deploy --api http://127.0.0.1:8787 --token "$(cat .edgefn/token)"
      EDGEFN_TOKEN=... edgefn deploy --project site/edgefn.toml --prune
    """
    project = open_project(project_path)
    host_functions = local_host_functions()
    console = Console(stderr=True)
    with (
        ApiClient(*resolve_target(api, token, project_path)) as client,
        Progress(
            TextColumn("uploading {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a bar only for a person watching, never in logs
        ) as bar,
    ):

        def progress(name: str, size: int) -> Any:
            task = bar.add_task(name, total=size)
            return lambda sent: bar.advance(task, sent)

        try:
            result = apply_project(
                project, client, host_functions=host_functions, prune=prune, progress=progress
            )
        except GuestBuildError as exc:
            raise CliError(str(exc), USAGE) from None
    for line in render_plan(result, project.path.name):
        click.echo(line)
    click.echo(f"{project.name}: " + ("applied" if result.changed else "nothing changed"))


@click.command()
@click.argument("function")
@click.option(
    "--to", "to_version", type=click.IntRange(min=1), required=True, help="the version to run again"
)
@project_name_option
@api_option
@token_option
def rollback(function: str, to_version: int, name: str | None, api: str | None, token: str | None) -> None:
    """Undeploy the current version of FUNCTION and deploy --to VERSION where it ran, in one step.

    Ends a rollout (`edgefn rollout`): every request goes to VERSION again.

    \b
    Examples:
      edgefn rollback hello --to 1
      edgefn rollback api --to 7 --project shop --api https://cp.example.com
    """
    with ApiClient(*resolve_target(api, token)) as client:
        out = client.call(
            "POST",
            f"/v1/projects/{project_name(name)}/functions/{function}/rollback",
            json={"to_version": to_version},
        )
    click.echo(
        f"rolled back {function}: v{out['from_version']} -> v{out['to_version']} where {out['selector']}"
    )


def _shares(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[dict[str, int]]:
    """`VERSION=PERCENT` arguments as the API's shares; a malformed one is a usage error (2). What the
    shares must add up to is the control plane's rule, checked there."""
    shares = []
    for text in values:
        version, sep, percent = text.partition("=")
        if not (sep and version.strip().isdigit() and percent.strip().lstrip("-").isdigit()):
            raise click.BadParameter(f"{text!r} is not VERSION=PERCENT (e.g. 2=10)")
        shares.append({"version": int(version), "percent": int(percent)})
    return shares


@click.command()
@click.argument("function")
@click.argument("shares", nargs=-1, required=True, callback=_shares, metavar="VERSION=PERCENT...")
@project_name_option
@api_option
@token_option
def rollout(
    function: str, shares: list[dict[str, int]], name: str | None, api: str | None, token: str | None
) -> None:
    """Serve versions of FUNCTION in shares (VERSION=PERCENT ..., summing to 100) where it is deployed.

    Each request goes to one of the versions at random by the shares; requests with the same
    `x-edgefn-version-key` header always reach the same version. `edgefn rollback FUNCTION --to V`
    ends the rollout with every request on V.

    
    Examples:
      edgefn rollout hello 1=90 2=10
      edgefn rollout api 6=50 7=50 --project shop
    """
    with ApiClient(*resolve_target(api, token)) as client:
        out = client.call(
            "POST",
            f"/v1/projects/{project_name(name)}/functions/{function}/rollout",
            json={"shares": shares},
        )
    split = ", ".join(f"v{s['version']} {s['percent']}%" for s in out["shares"])
    click.echo(f"rolling out {function}: {split} where {out['selector']}")


@click.command()
@api_option
@token_option
@click.option("--json", "as_json", is_flag=True, help="print the status document as JSON, for scripts")
def status(api: str | None, token: str | None, as_json: bool) -> None:
    """Functions and their versions, deployments per node, and nodes with their last heartbeat.

    \b
    Examples:
      edgefn status                 (in the folder of a project whose `edgefn dev` runs)
      edgefn status --json | jq '.nodes[] | select(.status == "offline")'
    """
    with ApiClient(*resolve_target(api, token)) as client:
        doc = client.call("GET", "/v1/status")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        print_status(doc, Console())
