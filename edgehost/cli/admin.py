"""Operator commands: `token`, `ca`, `plugins`, `migrate`."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import click

from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.settings_loader import make_context, settings_or_exit
from edgehost.context import AppContext
from edgehost.plugin_manager import describe
from edgehost.security.ca import CAError, init_ca, issue_node, issue_server
from edgehost.security.dev_tokens import load_or_create_signing_key, mint_token

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="a settings TOML layered over config/ (EDGEFN_* still override)",
)


@click.command()
@click.option("--subject", required=True, help="who the token speaks for (becomes a project member)")
@click.option(
    "--ttl", type=click.IntRange(min=1), default=3600, show_default=True, help="lifetime in seconds"
)
@click.option("--state-dir", type=click.Path(path_type=Path), default=None, help="an edgefn dev state folder")
@config_option
def token(subject: str, ttl: int, state_dir: Path | None, config_file: Path | None) -> None:
    """Mint a developer token, signed with a dev state folder's key or auth.signing_key_file.

    The subject becomes the owner of the first project it deploys; others get 403 until an owner
    adds them. Prints the token on stdout, nothing else.

    \b
    Examples:
      edgefn token --subject bob --state-dir .edgefn          (for an `edgefn dev`)
      edgefn token --subject alice --ttl 86400 --config cp.toml  (for `edgefn serve`)
    """
    if state_dir is not None and config_file is not None:
        raise CliError("pass --state-dir or --config, not both", USAGE)
    if state_dir is not None:
        key_file = state_dir / "signing-key.pem"
        if not key_file.exists():
            raise CliError(f"{state_dir} holds no signing key; run edgefn dev there first", USAGE)
        issuer, audience = "edgefn", "edgefn"
    else:
        settings = settings_or_exit("control-plane", config_file=config_file)
        if not settings.auth.signing_key_file:
            raise CliError("auth.signing_key_file is not set; pass --state-dir or --config", USAGE)
        key_file = Path(settings.auth.signing_key_file)
        issuer, audience = settings.auth.issuer, settings.auth.audience
    key = load_or_create_signing_key(key_file)
    click.echo(mint_token(key_pem=key, subject=subject, issuer=issuer, audience=audience, ttl_s=ttl))


@click.group()
def ca() -> None:
    """A certificate authority for mutual TLS between runners and the control plane.

    \b
    Examples:
      edgefn ca init --dir pki
      edgefn ca server cp.internal --dir pki --also 127.0.0.1
      edgefn ca issue tokyo-1 --dir pki
    """


def fast_paths(ctx: AppContext) -> dict[str, tuple[str | None, str]]:
    """Each listener's fast path as `build_app` would choose it, from the same assembled app."""
    from litestar import Litestar

    from edgehost.app import LISTENERS, app_config, fast_path

    return {name: fast_path(name, Litestar.from_config(app_config(name, ctx))) for name in LISTENERS}


def _ca_call(fn: object, *args: object) -> None:
    try:
        written = fn(*args)  # type: ignore[operator]
    except CAError as exc:
        raise CliError(str(exc), USAGE) from None
    for path in written:
        click.echo(f"wrote {path}")


@ca.command("init")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
def ca_init(directory: Path) -> None:
    """Create ca.pem and ca.key in DIR; refuses to overwrite an existing CA (exit status 2)."""
    _ca_call(init_ca, directory)


@ca.command("issue")
@click.argument("node_id")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
def ca_issue(node_id: str, directory: Path) -> None:
    """Issue NODE_ID.pem and NODE_ID.key, a runner's client certificate."""
    _ca_call(issue_node, directory, node_id)


@ca.command("server")
@click.argument("hostname")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--also", multiple=True, metavar="NAME", help="a further DNS name or IP address (repeatable)")
def ca_server(hostname: str, directory: Path, also: tuple[str, ...]) -> None:
    """Issue server.pem and server.key for the control plane at HOSTNAME."""
    _ca_call(issue_server, directory, hostname, *also)


@click.command("plugins")
@config_option
def plugins_cmd(config_file: Path | None) -> None:
    """List loaded plugins and the hooks each implements, then each listener's fast path.

    Plugins come from the built-in set, the `edgehost` entry-point group and the `plugins`
    setting. A listener's fast path (the ingress's user traffic, the CP's node heartbeats) answers
    before Litestar unless a plugin adds per-request work to the listener; `off` says why.
    Example: edgefn plugins --config cp.toml
    """
    ctx = make_context(settings_or_exit(None, config_file=config_file))
    for name, origin, hooks in describe(ctx.pm):
        click.echo(f"{name} ({origin})")
        for hook in hooks:
            click.echo(f"    {hook}")
    click.echo("\nfast paths:")
    for listener, (path, why) in fast_paths(ctx).items():
        click.echo(f"    {listener}: {path or 'off'} ({why})")


@click.command()
@config_option
def migrate(config_file: Path | None) -> None:
    """Apply the database migrations to database.url (SQLite or PostgreSQL); safe to run again.

    Example: edgefn migrate --config cp.toml
    """
    from edgehost.db.engine import DatabaseError, close_database, describe_url, open_database

    settings = settings_or_exit("control-plane", config_file=config_file)
    url = settings.database_url

    async def run() -> tuple[list[str], list[str]]:
        before = await _applied_migrations(url)
        engine = await open_database(url)  # binds the engine and applies what is pending
        try:
            return before, await _applied_migrations(None)
        finally:
            await close_database(engine)

    try:
        before, after = asyncio.run(run())
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    new = [name for name in after if name not in before]
    if new:
        click.echo(f"database at {describe_url(url)}: applied {len(new)} migrations ({', '.join(new)})")
    else:
        click.echo(f"database at {describe_url(url)} is up to date ({len(after)} migrations, none to apply)")


async def _applied_migrations(url: str | None) -> list[str]:
    """The migrations the database has run: on `url` (a new engine), or on the bound engine when
    None. [] for a new database, or one that cannot be read (open_database then says why)."""
    from piccolo.apps.migrations.tables import Migration

    from edgehost.db.engine import bind, make_engine

    try:
        with warnings.catch_warnings():  # Piccolo warns of a failed connection: open_database says it once
            warnings.simplefilter("ignore")
            if url is not None:
                bind(make_engine(url))
            if not await Migration.table_exists():
                return []
            return sorted(await Migration.get_migrations_which_ran(app_name="edgefn"))
    except Exception:
        return []
