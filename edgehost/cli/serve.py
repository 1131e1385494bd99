"""`edgefn serve`: the control plane or an edge runner (`--mode`), as deployed in production."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import click

from edgehost.app import build_app
from edgehost.cli.errors import USAGE, CliError
from edgehost.cli.settings_loader import fast_path_or_exit, make_context, settings_or_exit
from edgehost.context import AppContext
from edgehost.contracts import ProcessKind
from edgehost.runner.node import NodeState
from edgehost.runner.supervisor import ensure_multiprocess_metrics, metrics_dir, serve_with_workers
from edgehost.security.tls import server_ssl_args
from edgehost.serving import NODE_CONNECTIONS, ConnectionLimits, Listener, PortInUse, run
from edgehost.serving import serve as serve_listeners
from edgehost.settings import worker_count
from edgehost.startup import agent_running, control_plane, runner, runner_listeners


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_control_plane(ctx: AppContext) -> None:
    s = ctx.settings
    async with control_plane(ctx):  # first: the apps' state holds the services it creates
        # Without mTLS, nodes use the API port, so it takes their watch connections too.
        nodes = ConnectionLimits(NODE_CONNECTIONS)
        api = ConnectionLimits() if s.tls_enabled else nodes
        listeners = [Listener("api", build_app("api", ctx), s.api.host, s.api.port, limits=api)]
        if s.tls_enabled:
            ssl = server_ssl_args(s.tls.ca_file, s.tls.cert_file, s.tls.key_file)
            node = Listener("node", build_app("node", ctx), s.api.host, s.api.node_port, ssl, nodes)
            listeners.append(node)
        async with serve_listeners(listeners):
            click.echo(
                f"control plane serving api on {s.api.host}:{s.api.port}"
                + (f", nodes (mTLS) on {s.api.host}:{s.api.node_port}" if s.tls_enabled else ""),
                err=True,
            )
            await _until_signal()


def _node_runner(ctx: AppContext, process: ProcessKind) -> contextlib.AbstractAsyncContextManager[NodeState]:
    s = ctx.settings
    return runner(
        ctx,
        cp_url=s.runner.control_plane_url,
        cert_file=Path(s.tls.cert_file),
        key_file=Path(s.tls.key_file),
        process=process,
    )


async def run_runner(ctx: AppContext) -> None:
    """`runner.workers = 1`: agent, ingress and metrics in one process and one event loop."""
    s = ctx.settings
    async with _node_runner(ctx, "single"):
        listeners = runner_listeners(
            ctx, ingress_port=s.runner.ingress_port, metrics_port=s.runner.metrics_port
        )
        async with serve_listeners(listeners), agent_running(ctx):
            click.echo(
                f"runner {s.runner.node_id} serving on {s.runner.host}:{s.runner.ingress_port}", err=True
            )
            await _until_signal()


def run_runner_workers(ctx: AppContext, workers: int) -> None:
    """`runner.workers > 1`: granian worker processes serve; this process runs the one agent and metrics."""
    s = ctx.settings

    async def agent(stop: asyncio.Event) -> None:
        metrics = runner_listeners(ctx, ingress_port=None, metrics_port=s.runner.metrics_port)
        async with _node_runner(ctx, "agent"), serve_listeners(metrics), agent_running(ctx):
            click.echo(
                f"runner {s.runner.node_id} serving on {s.runner.host}:{s.runner.ingress_port} "
                f"with {workers} workers",
                err=True,
            )
            await stop.wait()

    serve_with_workers(s, workers, agent)


def _check_runner(ctx: AppContext) -> None:
    s = ctx.settings
    missing = [
        key
        for key, value in (
            ("runner.node_id", s.runner.node_id),
            ("runner.control_plane_url", s.runner.control_plane_url),
            ("tls.cert_file", s.tls.cert_file),
            ("tls.key_file", s.tls.key_file),
        )
        if not value
    ]
    if missing:
        raise CliError(f"runner mode needs {', '.join(missing)}", USAGE)


@click.command()
@click.option("--mode", type=click.Choice(["control-plane", "runner"]), required=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="a settings TOML layered over config/ (EDGEFN_* still override)",
)
def serve(mode: str, config_file: Path | None) -> None:
    """Serve the control plane or an edge runner, as --mode says, from settings."""
    settings = settings_or_exit(mode, config_file=config_file)
    workers = worker_count(settings)
    if workers > 1:
        ensure_multiprocess_metrics(metrics_dir(settings))
    ctx = make_context(settings)
    if mode == "runner":
        _check_runner(ctx)
        fast_path_or_exit()
    try:
        if workers > 1:
            run_runner_workers(ctx, workers)
        else:
            run(run_control_plane(ctx) if mode == "control-plane" else run_runner(ctx))
    except PortInUse as exc:
        raise CliError(str(exc), USAGE) from None
