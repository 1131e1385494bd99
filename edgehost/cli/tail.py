"""`edgefn tail`: stream a project's invocation logs from the runners, through the control plane."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import httpx
from rich.console import Console

from edgehost.cli.client import resolve_target
from edgehost.cli.deploy import api_option, token_option
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.invocation_view import render
from edgehost.client import ApiClient
from edgehost.project import ProjectError, load_project


def require_function(api: str, token: str, project: str, function: str) -> None:
    """Refuses (exit 2) a FUNCTION the project does not have, rather than tailing it silently."""
    with ApiClient(api, token) as client:
        doc = client.call("GET", f"/v1/projects/{project}/functions", ok_missing=True)
    names = sorted(f["name"] for f in (doc or {}).get("functions", ()))
    if doc is None:
        raise CliError(f'the control plane at {api} has no project "{project}"', USAGE)
    if function not in names:
        has = f"its functions: {', '.join(names)}" if names else "it has no function yet"
        raise CliError(f'project "{project}" has no function "{function}" ({has})', USAGE)


@click.command()
@click.argument("function", required=False)
@click.option("--project", "project_name", default=None, help="project name [default: from ./edgefn.toml]")
@api_option
@token_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "pretty"]),
    default=None,
    help="one JSON object per line, or a readable line [default: pretty on a terminal, else json]",
)
def tail(
    function: str | None, project_name: str | None, api: str | None, token: str | None, fmt: str | None
) -> None:
    """Stream the invocation logs of a project (or of one FUNCTION) live, until interrupted.

    \b
    Examples:
      edgefn tail hello             (in the folder of a project whose `edgefn dev` runs)
      edgefn tail hello --project demo --api https://cp.example.com --token "$EDGEFN_TOKEN"
    """
    if project_name is None:
        try:
            project_name = load_project(Path(".")).name
        except ProjectError:
            raise CliError("pass --project NAME or run in a folder with edgefn.toml", USAGE) from None
    fmt = fmt or ("pretty" if sys.stdout.isatty() else "json")
    console = Console(highlight=False, soft_wrap=True)
    params = {"function": function} if function else {}
    api, token = resolve_target(api, token)
    if function:
        require_function(api, token, project_name, function)
    client = httpx.Client(
        base_url=api.rstrip("/"),
        headers={"authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10.0, read=None),  # the stream idles between invocations
    )
    try:
        with client.stream("GET", f"/v1/projects/{project_name}/tail", params=params) as response:
            if response.is_error:
                response.read()
                ApiClient.decode(response)
            for line in response.iter_lines():
                if not line.strip():
                    continue  # keepalive
                record = json.loads(line)
                if record.get("event") == "connected":
                    click.echo(f"tailing {project_name}{f' ({function})' if function else ''}", err=True)
                    continue
                if fmt == "json":
                    click.echo(line)
                else:
                    console.print(render(record))
    except httpx.HTTPError as exc:
        raise CliError(f"the tail from {api} ended: {exc}") from None
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
