"""The `edgefn` command: every failure ends in one line and an exit status, never a traceback."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from edgehost import __version__
from edgehost.cli.admin import ca, migrate, plugins_cmd, token
from edgehost.cli.deploy import deploy, rollback, status
from edgehost.cli.dev import dev
from edgehost.cli.errors import CliError
from edgehost.cli.guests import build
from edgehost.cli.serve import serve


class EdgefnGroup(click.Group):
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
    Start here:   edgefn dev            (serves ./edgefn.toml on :8080)
    Ship it:      edgefn deploy --api https://cp.example.com
    """
    logging.basicConfig(
        level=os.environ.get("EDGEFN_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "piccolo", "_granian", "granian"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


for command in (dev, serve, deploy, rollback, status, token, ca, plugins_cmd, migrate, build):
    cli.add_command(command)


def _add_plugin_commands() -> None:
    """Sub-commands contributed by plugins through `edgehost_cli_commands`."""
    from edgehost.plugins import make_plugin_manager

    try:
        pm = make_plugin_manager()
    except Exception:  # a broken third-party plugin must not take the whole CLI down
        return
    for group in pm.hook.edgehost_cli_commands():
        for command in group or ():
            if command.name not in cli.commands:
                cli.add_command(command)


def main() -> None:
    _add_plugin_commands()
    cli(prog_name="edgefn")
