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
from edgehost.cli.errors import REFUSED, CliError

# Imported on first use: the server stack (litestar, piccolo, wasmtime) costs seconds of start-up
# that `edgefn token`, `edgefn --help` or a typo should not pay. The summary is what `edgefn --help`
# lists (so listing imports nothing); tests/cli/test_commands.py checks it is the command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "edgehost.cli.init:init",
        "Create a project in DIRECTORY (default: here): edgefn.toml and a hello function.",
    ),
    "add": (
        "edgehost.cli.add:add",
        "Add function NAME: its source, a route /NAME and a deployment, in one step.",
    ),
    "dev": (
        "edgehost.cli.dev:dev",
        "Run the control plane and a runner in one process, serving this project.",
    ),
    "serve": (
        "edgehost.cli.serve:serve",
        "Serve the control plane or an edge runner, as --mode says, from settings.",
    ),
    "deploy": (
        "edgehost.cli.deploy:deploy",
        "Apply the project file to a control plane: changed artifacts, then routes, then deployments.",
    ),
    "rollback": (
        "edgehost.cli.deploy:rollback",
        "Undeploy the current version of FUNCTION and deploy --to VERSION where it ran, in one step.",
    ),
    "rollout": (
        "edgehost.cli.deploy:rollout",
        "Serve versions of FUNCTION in shares (VERSION=PERCENT ..., summing to 100) where it is deployed.",
    ),
    "status": (
        "edgehost.cli.deploy:status",
        "Functions and their versions, deployments per node, and nodes with their last heartbeat.",
    ),
    "nodes": (
        "edgehost.cli.nodes:nodes",
        "Every node with its state (online, draining, offline), URL, labels and last heartbeat.",
    ),
    "drain": (
        "edgehost.cli.nodes:drain",
        "Take NODE_ID out of the node feed: load balancers and DNS following it stop "
        "sending it traffic, while the runner keeps serving what it has until you stop it.",
    ),
    "undrain": (
        "edgehost.cli.nodes:undrain",
        "Put a drained NODE_ID back in the node feed (once it is online).",
    ),
    "kv": (
        "edgehost.cli.kv:kv",
        "Operator access to a project's KV stores: get, put, delete, list.",
    ),
    "secret": (
        "edgehost.cli.secret:secret",
        "A function's secrets: set (value from standard input), list (names only), delete.",
    ),
    "tail": (
        "edgehost.cli.tail:tail",
        "Stream the invocation logs of a project (or of one FUNCTION) live, until interrupted.",
    ),
    "token": (
        "edgehost.cli.admin:token",
        "Mint a developer token, signed with a dev state folder's key or auth.signing_key_file.",
    ),
    "ca": (
        "edgehost.cli.admin:ca",
        "A certificate authority for mutual TLS between runners and the control plane.",
    ),
    "plugins": (
        "edgehost.cli.admin:plugins_cmd",
        "List loaded plugins and the hooks each implements, then each listener's fast path.",
    ),
    "migrate": (
        "edgehost.cli.admin:migrate",
        "Apply the database migrations to database.url (SQLite or PostgreSQL); safe to run again.",
    ),
    "build": (
        "edgehost.cli.guests:build",
        "Build SOURCE (.wat, .c, .py or .js) into WebAssembly for edgefn (an ABI v1 module or a "
        "wasi:http component), or without SOURCE every function of the project file.",
    ),
}


@functools.cache
def plugin_commands() -> dict[str, click.Command]:
    """Sub-commands contributed by plugins through `edgehost_cli_commands`; built-ins win a clash.

    Plugins come from entry points and the `plugins` / `disabled_plugins` settings as the
    environment gives them: a command's own `--config` is read only once the command is chosen.
    The built-in plugins add no command (tests/foundation/test_plugins.py checks), so they are
    not imported here: `edgefn --help` and every built-in command start without the server stack.
    """
    from edgehost.plugin_manager import make_plugin_manager
    from edgehost.settings import load_settings

    try:
        settings = load_settings()
        pm = make_plugin_manager(settings.plugins, settings.disabled_plugins, builtins=False)
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
        module, attr = COMMANDS[cmd_name][0].split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from COMMANDS' summaries, importing no built-in command."""
        plugins = plugin_commands()
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [
            (
                name,
                (plugins.get(name) or click.Command(name, help=COMMANDS[name][1])).get_short_help_str(limit),
            )
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.status)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            client = sys.modules.get("edgehost.client")  # loaded by the commands that raise its errors
            if client is not None and isinstance(exc, client.ClientError):  # refused, or unreachable
                click.echo(f"error: {exc.message}", err=True)
                sys.exit(REFUSED)
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
    Add one:      edgefn add api        (source, route /api and deployment)
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
