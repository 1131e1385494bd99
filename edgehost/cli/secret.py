"""`edgefn secret set|list|delete FUNCTION [NAME]`: a function's secrets (docs/secrets.md), through the
control plane's API (edgehost/controlplane/secrets_api.py). A value is read from standard input only
(an argument would land in shell history and process listings) and is never printed."""

from __future__ import annotations

import sys

import click

from edgehost.cli.client import resolve_target
from edgehost.cli.deploy import api_option, token_option
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.project_file import project_name, project_name_option
from edgehost.client import ApiClient
from edgehost.project.schema import ENV_NAME, ENV_NAME_RULE


def _path(name: str | None, function: str, secret: str = "") -> str:
    return f"/v1/projects/{project_name(name)}/functions/{function}/secrets" + (
        f"/{secret}" if secret else ""
    )


def _checked(secret: str) -> str:
    if not ENV_NAME.fullmatch(secret):
        raise CliError(f"secret name {secret!r} must be {ENV_NAME_RULE}", USAGE)
    return secret


def _read_value(secret: str) -> bytes:
    """Standard input to its end, less one final line break (`echo` adds one); on a terminal, a
    prompt that does not echo."""
    if sys.stdin.isatty():
        return click.prompt(f"value of {secret}", hide_input=True, err=True).encode()
    value = sys.stdin.buffer.read()
    for ending in (b"\r\n", b"\n"):
        if value.endswith(ending):
            return value[: -len(ending)]
    return value


@click.group()
def secret() -> None:
    """A function's secrets: set (value from standard input), list (names only), delete.

    A change takes effect on the function's next deployment (`edgefn deploy` makes one when a
    secret changed). Values are never printed, by this command or any other.

    \b
    Examples:
      edgefn secret set api API_TOKEN < token.txt
      printf %s "$TOKEN" | edgefn secret set api API_TOKEN --project shop
      edgefn secret list api
      edgefn secret delete api API_TOKEN
    """


@secret.command("set")
@click.argument("function")
@click.argument("secret_name", metavar="NAME")
@project_name_option
@api_option
@token_option
def set_cmd(function: str, secret_name: str, name: str | None, api: str | None, token: str | None) -> None:
    """Set secret NAME of FUNCTION to standard input (to its end, less one final line break)."""
    value = _read_value(_checked(secret_name))
    with ApiClient(*resolve_target(api, token)) as client:
        client.raw("PUT", _path(name, function, secret_name), content=value)
    click.echo(
        f"set secret {secret_name} of {function}; its next deployment takes it (edgefn deploy)", err=True
    )


@secret.command("list")
@click.argument("function")
@project_name_option
@api_option
@token_option
def list_cmd(function: str, name: str | None, api: str | None, token: str | None) -> None:
    """The secrets of FUNCTION, one a line: name and when it was set (UTC), never the value."""
    with ApiClient(*resolve_target(api, token)) as client:
        doc = client.call("GET", _path(name, function))
    for item in doc["secrets"]:
        click.echo(f"{item['name']}\t{item['set_at']}")


@secret.command("delete")
@click.argument("function")
@click.argument("secret_name", metavar="NAME")
@project_name_option
@api_option
@token_option
def delete_cmd(function: str, secret_name: str, name: str | None, api: str | None, token: str | None) -> None:
    """Delete secret NAME of FUNCTION; deployments already made keep the value they took."""
    with ApiClient(*resolve_target(api, token)) as client:
        client.call("DELETE", _path(name, function, _checked(secret_name)))
    click.echo(f"deleted secret {secret_name} of {function}", err=True)
