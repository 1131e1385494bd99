"""The `edgefn` command: every failure ends in one line and an exit status, never a traceback."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from typing import Any

import click

from edgehost import __version__
from edgehost.cli.errors import CliError

# Imported on first use: the server stack (litestar, piccolo, wasmtime) costs seconds of start-up
# that `edgefn token` or a typo should not pay.
COMMANDS = {
    "init": "edgehost.cli.init:init",
    "add": "edgehost.cli.add:add",
    "dev": "edgehost.cli.dev:dev",
    "serve": "edgehost.cli.serve:serve",
    "deploy": "edgehost.cli.deploy:deploy",
    "rollback": "edgehost.cli.deploy:rollback",
    "status": "edgehost.cli.deploy:status",
    "nodes": "edgehost.cli.nodes:nodes",
    "drain": "edgehost.cli.nodes:drain",
    "undrain": "edgehost.cli.nodes:undrain",
    "tail": "edgehost.cli.tail:tail",
    "token": "edgehost.cli.admin:token",
    "ca": "edgehost.cli.admin:ca",
    "plugins": "edgehost.cli.admin:plugins_cmd",
    "migrate": "edgehost.cli.admin:migrate",
    "build": "edgehost.cli.guests:build",
}


@functools.cache
def plugin_commands() -> dict[str, click.Command]:
    """Sub-commands contributed by plugins through `edgehost_cli_commands`; built-ins win a clash.

    Plugins come from entry points and the `plugins` / `disabled_plugins` settings as the
    environment gives them: a command's own `--config` is read only once the command is chosen.
    """
    from edgehost.plugins import make_plugin_manager
    from edgehost.settings import load_settings

    try:
        settings = load_settings()
        pm = make_plugin_manager(settings.plugins, settings.disabled_plugins)
    except Exception:  # a broken setting or third-party plugin must not take the whole CLI down
        return {}
    found: dict[str, click.Command] = {}
    for group in pm.hook.edgehost_cli_commands():
        for command in group or ():
            if command.name and command.name not in COMMANDS:
                found.setdefault(command.name, command)
    return found


class EdgefnGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return plugin_commands().get(cmd_name)
        module, attr = COMMANDS[cmd_name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.status)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("EDGEFN_DEBUG"):
                raise
            click.echo(f"error: {type(exc).__name__}: {exc} (set EDGEFN_DEBUG=1 for details)", err=True)
            sys.exit(1)


@click.group(cls=EdgefnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgefn")
def cli() -> None:
    """edgefn: WebAssembly HTTP functions on a control plane and edge runners.

    \b
    Start here:   edgefn init hello-edge && cd hello-edge
                  edgefn dev            (serves ./edgefn.toml on :8080)
    Ship it:      edgefn deploy --api https://cp.example.com --token "$EDGEFN_TOKEN"
    Look:         edgefn status
    Exit status:  0 done, 1 refused by (or cannot reach) the control plane, 2 bad input
    """
    logging.basicConfig(
        level=os.environ.get("EDGEFN_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "piccolo", "_granian", "granian"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    cli(prog_name="edgefn")
