"""`edgefn kv get|put|delete|list STORE [KEY]`: operator access to a project's KV stores, through
the control plane's API (edgehost/controlplane/kv_api.py), so access is checked like any project
change. Values are bytes: `put` reads standard input to its end, `get` writes the value unchanged."""

from __future__ import annotations

import sys

import click

from edgehost.cli.client import resolve_target
from edgehost.cli.deploy import api_option, token_option
from edgehost.cli.project_file import project_name, project_name_option
from edgehost.client import ApiClient


def _path(name: str | None, store: str, what: str) -> str:
    return f"/v1/projects/{project_name(name)}/kv/{store}/{what}"


@click.group()
def kv() -> None:
    """Operator access to a project's KV stores: get, put, delete, list.

    \b
    Examples:
      edgefn kv put default greeting < greeting.txt
      edgefn kv get default greeting
      edgefn kv list default --prefix user:
      edgefn kv delete default greeting --project shop
    """


@kv.command("get")
@click.argument("store")
@click.argument("key")
@project_name_option
@api_option
@token_option
def get_cmd(store: str, key: str, name: str | None, api: str | None, token: str | None) -> None:
    """Write the value of KEY in STORE to standard output, byte for byte (exit 1 when absent)."""
    with ApiClient(*resolve_target(api, token)) as client:
        value = client.raw("GET", _path(name, store, "value"), params={"key": key})
    sys.stdout.buffer.write(value)
    sys.stdout.flush()


@kv.command("put")
@click.argument("store")
@click.argument("key")
@project_name_option
@api_option
@token_option
def put_cmd(store: str, key: str, name: str | None, api: str | None, token: str | None) -> None:
    """Store standard input, to its end, as the value of KEY in STORE."""
    value = sys.stdin.buffer.read()
    with ApiClient(*resolve_target(api, token)) as client:
        client.raw("PUT", _path(name, store, "value"), params={"key": key}, content=value)
    click.echo(f"stored {key} in {store} ({len(value)} bytes)", err=True)


@kv.command("delete")
@click.argument("store")
@click.argument("key")
@project_name_option
@api_option
@token_option
def delete_cmd(store: str, key: str, name: str | None, api: str | None, token: str | None) -> None:
    """Delete KEY from STORE (no error when it is absent)."""
    with ApiClient(*resolve_target(api, token)) as client:
        client.call("DELETE", _path(name, store, "value"), params={"key": key})
    click.echo(f"deleted {key} from {store}", err=True)


@kv.command("list")
@click.argument("store")
@click.option("--prefix", default="", help="only keys starting with this")
@click.option("--limit", type=click.IntRange(1, 10000), default=1000, show_default=True)
@project_name_option
@api_option
@token_option
def list_cmd(
    store: str, prefix: str, limit: int, name: str | None, api: str | None, token: str | None
) -> None:
    """The keys of STORE, one a line, in byte order."""
    with ApiClient(*resolve_target(api, token)) as client:
        doc = client.call("GET", _path(name, store, "keys"), params={"prefix": prefix, "limit": str(limit)})
    for key in doc["keys"]:
        click.echo(key)
