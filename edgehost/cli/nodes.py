"""`edgefn nodes`, `drain` and `undrain`: the operator's view of the node feed (`/v1/nodes`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import click
from rich.console import Console

from edgehost.cli.client import resolve_target
from edgehost.cli.deploy import api_option, token_option
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.status_view import feed_table
from edgehost.client import ApiClient
from edgehost.selectors import SelectorError, compile_selector


@click.command()
@click.option(
    "--selector", default=None, metavar="EXPR", help="CEL over node labels, e.g. \"region == 'tokyo'\""
)
@click.option(
    "--state",
    type=click.Choice(["online", "offline", "draining"]),
    default=None,
    help="only nodes in this state",
)
@click.option("--json", "as_json", is_flag=True, help="print the control plane's node list as JSON")
@api_option
@token_option
def nodes(selector: str | None, state: str | None, as_json: bool, api: str | None, token: str | None) -> None:
    """Every node with its state (online, draining, offline), URL, labels and last heartbeat.

    Online nodes are those load balancers following the feed send traffic to. Needs the operator
    role (auth.operators; `edgefn dev`'s own token has it).

    \b
    Examples:
      edgefn nodes
      edgefn nodes --selector "region == 'tokyo'" --state online
      edgefn nodes --json | jq -r '.nodes[] | select(.state == "offline") | .node_id'
    """
    if selector is not None:
        try:
            compile_selector(selector)
        except SelectorError as exc:
            raise CliError(str(exc), USAGE) from None
    params = {key: value for key, value in (("state", state), ("selector", selector)) if value is not None}
    with ApiClient(*resolve_target(api, token)) as client:
        doc = client.call("GET", "/v1/nodes", params=params)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    elif doc["nodes"]:
        Console().print(feed_table(doc["nodes"], datetime.now(UTC)))
    else:
        click.echo("no nodes" + (" match" if params else " have checked in"))


def _set_draining(node_id: str, action: str, api: str | None, token: str | None) -> dict[str, object]:
    with ApiClient(*resolve_target(api, token)) as client:
        node: dict[str, object] = client.call("POST", f"/v1/nodes/{quote(node_id, safe='')}/{action}")
    return node


@click.command()
@click.argument("node_id")
@api_option
@token_option
def drain(node_id: str, api: str | None, token: str | None) -> None:
    """Take NODE_ID out of the node feed: load balancers and DNS following it stop sending it
    traffic, while the runner keeps serving what it has until you stop it. Lasts across restarts
    until `edgefn undrain`. Needs the operator role.

    \b
    Example:
      edgefn drain tokyo-1 && sleep 60 && systemctl stop edgefn-runner
    """
    node = _set_draining(node_id, "drain", api, token)
    click.echo(f"{node_id} is {node['state']}: out of the node feed, still serving until stopped")


@click.command()
@click.argument("node_id")
@api_option
@token_option
def undrain(node_id: str, api: str | None, token: str | None) -> None:
    """Put a drained NODE_ID back in the node feed (once it is online). Needs the operator role.

    \b
    Example:
      edgefn undrain tokyo-1
    """
    node = _set_draining(node_id, "undrain", api, token)
    where = "back in the node feed" if node["state"] == "online" else "it rejoins the feed when it checks in"
    click.echo(f"{node_id} is {node['state']}: {where}")
