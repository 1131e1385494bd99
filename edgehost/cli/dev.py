"""`edgefn dev`: the control plane and one runner in one process, serving the project of the current folder.

It applies the project through the CP's own API (register, upload, finalize, deploy),
exactly as `edgefn deploy` does against a remote CP, and re-applies when files change.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import click

from edgehost.cli.dev_runners import (
    LocalRunner,
    check_ports,
    plan_runners,
    prepare_certificates,
    runner_processes,
    wait_runners_serving,
)
from edgehost.cli.dev_session import DevSession
from edgehost.cli.dev_state import find_state_dir, remove_urls, write_urls
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.project_file import open_project, project_option
from edgehost.cli.settings_loader import fast_path_or_exit, make_context, settings_or_exit
from edgehost.context import AppContext
from edgehost.security.ca import init_ca, issue_node
from edgehost.security.dev_tokens import load_or_create_signing_key, mint_token

DEV_TOKEN_TTL_S = 30 * 24 * 3600
# The subject of the token `edgefn dev` writes: its own developer, also an operator of its one node.
DEV_SUBJECT = "developer"


def prepare_state_dir(state_dir: Path, node_id: str) -> dict[str, Path]:
    """Signing key, developer token, and a private CA with the dev node's certificate."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key_file = state_dir / "signing-key.pem"
    key = load_or_create_signing_key(key_file)
    token_file = state_dir / "token"
    token_file.write_text(mint_token(key_pem=key, subject=DEV_SUBJECT, ttl_s=DEV_TOKEN_TTL_S) + "\n")
    token_file.chmod(0o600)
    ca_dir = state_dir / "ca"
    if not (ca_dir / "ca.pem").exists():
        init_ca(ca_dir, common_name="edgefn dev CA")
    if not (ca_dir / f"{node_id}.pem").exists():
        issue_node(ca_dir, node_id)
    return {
        "key": key_file,
        "token": token_file,
        "ca": ca_dir / "ca.pem",
        "node_cert": ca_dir / f"{node_id}.pem",
        "node_key": ca_dir / f"{node_id}.key",
    }


async def run_dev(
    ctx: AppContext,
    project_file: Path,
    files: dict[str, Path],
    ports: dict[str, int],
    runners: list[LocalRunner],
) -> None:
    # The server stack loads here, not at import: `edgefn dev --help` and a bad project stay instant.
    from edgehost.app import build_app
    from edgehost.security.tls import server_ssl_args
    from edgehost.serving import NODE_CONNECTIONS, ConnectionLimits, Listener, serve
    from edgehost.startup import agent_running, control_plane, runner, runner_listeners

    api_url = f"http://127.0.0.1:{ports['api']}"
    main = asyncio.current_task()
    assert main is not None
    # Until ready, SIGTERM cancels start-up, so every `async with` below stops what it started (the
    # runner processes too, which live in their own sessions); from then on it stops dev cleanly.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    async with (
        control_plane(ctx),
        runner(ctx, cp_url=api_url, cert_file=files["node_cert"], key_file=files["node_key"]),
    ):
        listeners = [
            Listener("api", build_app("api", ctx), "127.0.0.1", ports["api"]),
            *runner_listeners(ctx, ingress_port=ports["ingress"], metrics_port=ports["metrics"]),
        ]
        if runners:  # the runner processes' own listener, with mutual TLS as in production
            ssl = server_ssl_args(files["ca"], files["server_cert"], files["server_key"])
            limits = ConnectionLimits(NODE_CONNECTIONS)
            listeners.append(
                Listener("node", build_app("node", ctx), "127.0.0.1", ports["node"], ssl, limits)
            )
        state_dir = files["token"].parent
        host = ctx.settings.runner.host
        started = time.time()  # the runners' first heartbeats come after this
        async with (
            serve(listeners),
            agent_running(ctx),
            runner_processes(
                runners, host=host, node_port=ports["node"], ca_dir=files["ca"].parent, state_dir=state_dir
            ) as procs,
        ):
            token = files["token"].read_text().strip()
            session = DevSession(ctx, project_file, token, api_url)
            await session.apply()
            await session.wait_until_serving()
            if runners:
                late = await wait_runners_serving(
                    runners,
                    procs,
                    api_url=api_url,
                    token=token,
                    functions=session.deployed_ids(),
                    since=started,
                    host=host,
                )
                for node_id in late:
                    click.echo(f"warning: {node_id} has not reported its deployments yet", err=True)
            write_urls(state_dir, api_url, f"http://{host}:{ports['ingress']}")
            try:
                found = find_state_dir(project_file) == state_dir  # False with a --state-dir elsewhere
                click.echo(ready_message(host, ports, api_url, files["token"], found, runners), err=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                watcher = asyncio.create_task(session.watch())
                await stop.wait()
                watcher.cancel()
                click.echo("edgefn dev stopping", err=True)
            finally:
                remove_urls(state_dir)


def ready_message(
    host: str,
    ports: dict[str, int],
    api_url: str,
    token_file: Path,
    found: bool,
    runners: list[LocalRunner] = [],  # noqa: B006 - read only
) -> str:
    """What `edgefn dev` prints once it serves: its addresses, its runner processes', and how other
    commands reach it (`found`: whether commands in the project's folder find its state folder)."""
    text = (
        f"edgefn dev ready: ingress http://{host}:{ports['ingress']}  api {api_url}  "
        f"metrics http://{host}:{ports['metrics']}/metrics\n"
    )
    for r in runners:
        text += (
            f"  runner {r.node_id}: ingress http://{host}:{r.ingress_port}  "
            f"metrics http://{host}:{r.metrics_port}/metrics  log {r.log}\n"
        )
    if found:
        text += (
            "  in this project's folder, edgefn deploy/status/tail/rollback/kv/secret find this API and its "
            f"token ({token_file}) by themselves;\n  from elsewhere: "
        )
    else:
        text += "  to reach it: "
    return text + f'edgefn status --api {api_url} --token "$(cat {token_file})"'


@click.command()
@project_option
@click.option("--ingress-port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--api-port", type=click.IntRange(1, 65535), default=8787, show_default=True)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=9090, show_default=True)
@click.option(
    "--runners",
    type=click.IntRange(0, 16),
    default=0,
    show_default=True,
    help="also run N edge runner processes (`edgefn serve --mode runner`) with mutual TLS set up for "
    "them; runner K serves on --ingress-port + K",
)
@click.option(
    "--node-port",
    type=click.IntRange(1, 65535),
    default=8788,
    show_default=True,
    help="the control plane's mutual-TLS listener for --runners",
)
@click.option(
    "--log-format",
    type=click.Choice(["pretty", "json"]),
    default=None,
    help="invocation logs as a readable line or one JSON object per line "
    "[default: pretty on a terminal, else json]",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="where dev keeps its database, artifacts, cache and token [default: PROJECT/.edgefn]",
)
def dev(
    project_path: Path,
    ingress_port: int,
    api_port: int,
    metrics_port: int,
    runners: int,
    node_port: int,
    log_format: str | None,
    state_dir: Path | None,
) -> None:
    """Run the control plane and a runner in one process, serving this project.

    Applies edgefn.toml through the control plane's own API, then watches it and every guest
    source it names: a saved change is rebuilt and re-applied; a broken one is reported and the
    previous version keeps serving. Invocation logs go to stdout, one readable line each on a
    terminal and one JSON object per line otherwise (--log-format); the rest goes to stderr.

    \b
    With --runners N it is a local cluster: N more runners as their own processes, each with a
    certificate from the dev's CA, syncing over mutual TLS as production runners do.

    \b
    Examples:
      edgefn dev
      edgefn dev --project ../shop --ingress-port 3000   (the project in the folder ../shop)
      curl localhost:8080/hello
      edgefn dev --runners 2        (then curl localhost:8081/hello and localhost:8082/hello)
    """
    project = open_project(project_path)
    state_dir = (state_dir or project.path.parent / ".edgefn").resolve()
    overrides = {
        "state_dir": str(state_dir),
        "runner.state_dir": str(state_dir / "runner"),
        "runner.cache_dir": str(state_dir / "cache"),
        "api.port": api_port,
        "api.host": "127.0.0.1",
        "runner.ingress_port": ingress_port,
        "runner.metrics_port": metrics_port,
    }
    base = settings_or_exit("dev", overrides=overrides)
    node_id = base.runner.node_id
    files = prepare_state_dir(state_dir, node_id)
    local = plan_runners(runners, ingress_port, metrics_port, state_dir)
    if local:
        check_ports(base.runner.host, local, node_port)
        certs = prepare_certificates(files["ca"].parent, local)
        files.update(server_cert=certs["cert"], server_key=certs["key"])
    settings = settings_or_exit(
        "dev",
        overrides={
            **overrides,
            "auth.signing_key_file": str(files["key"]),
            "auth.operators": [*base.auth.operators, DEV_SUBJECT],
            "tls.ca_file": str(files["ca"]),
            "nodes.allow": [node_id, *(r.node_id for r in local)],
        },
    )
    from edgehost.serving import PortInUse, run

    ctx = make_context(settings)
    fast_path_or_exit()
    if log_format == "pretty" or (log_format is None and sys.stdout.isatty()):
        from edgehost.cli.invocation_view import PrettySink
        from edgehost.plugin_manager import builtin

        invocation_log = builtin(ctx.pm, "invocation_log")
        if invocation_log is not None:  # disabled: nothing is logged per invocation, pretty or not
            invocation_log.set_sink(PrettySink(sys.stdout))
    ports = {"api": api_port, "ingress": ingress_port, "metrics": metrics_port, "node": node_port}
    try:
        run(run_dev(ctx, project.path, files, ports, local))
    except asyncio.CancelledError:  # SIGTERM before it was ready; all it started is stopped
        click.echo("edgefn dev stopped before it was ready", err=True)
    except PortInUse as exc:
        raise CliError(f"{exc}; pick another with --ingress-port/--api-port/--metrics-port", USAGE) from None
