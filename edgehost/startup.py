"""Start-up of the control plane's and the runner's services, composed by `edgefn serve` and `edgefn dev`.

`controlplane/` and `runner/` never import each other; this module is where they meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import httpx

from edgehost.addresses import advertised
from edgehost.app import build_app
from edgehost.context import AppContext
from edgehost.contracts import ProcessKind
from edgehost.controlplane.deployments import Deployments
from edgehost.controlplane.nodes import Nodes
from edgehost.controlplane.notify import Notifier
from edgehost.controlplane.registry import Registry
from edgehost.controlplane.secrets import SecretStore
from edgehost.db.engine import close_database, open_database
from edgehost.project_queue import ProjectQueue
from edgehost.runner.agent import SyncAgent
from edgehost.runner.assembly import assemble_runner
from edgehost.runner.cp_client import ControlPlaneClient, NodeCredentials
from edgehost.runner.node import NodeState
from edgehost.runner.statefile import SERVING_FILE, save_state
from edgehost.runner.usage import USAGE_DIR, UsageCollector, combined
from edgehost.runtime import HostFunction
from edgehost.secrets_crypto import Sealer, SecretKeyError, load_or_create_key, parse_key
from edgehost.security.tls import node_client_context
from edgehost.serving import ConnectionLimits, Listener
from edgehost.settings import Runner as RunnerSettings
from edgehost.settings import Settings, SettingsError

log = logging.getLogger("edgefn")


def host_functions(ctx: AppContext) -> list[HostFunction]:
    """What the plugins link into guests: registration checks modules against the same list."""
    return [fn for group in ctx.hook.edgehost_host_functions(ctx=ctx) for fn in group]


@contextlib.asynccontextmanager
async def control_plane(ctx: AppContext) -> AsyncIterator[None]:
    """Database, artifact store, notifier and the CP services, in `ctx.services`."""
    settings = ctx.settings
    engine = await open_database(settings.database_url)
    notifier = Notifier()
    await notifier.start()
    store = ctx.hook.edgehost_artifact_store(settings=settings)
    if store is None:
        raise RuntimeError("no artifact store: the storage plugin is disabled and no plugin provides one")
    registry = Registry(
        store,
        host_functions=host_functions(ctx),
        url_ttl_s=settings.artifacts.url_ttl_s,
        max_upload_bytes=settings.api.max_upload_bytes,
        checks=ProjectQueue(settings.api.max_concurrent_checks, "edgefn-check"),
    )
    secrets = SecretStore(Sealer(secret_key(settings)))
    deployments = Deployments(
        store,
        notifier,
        url_ttl_s=settings.artifacts.url_ttl_s,
        max_routes_per_project=settings.api.max_routes_per_project,
        secrets=secrets,
    )
    nodes = Nodes(
        deployments,
        notifier,
        interval_s=settings.heartbeat.interval_s,
        offline_after_s=settings.heartbeat.offline_after_s,
        cpu_seconds_per_day=settings.quotas.cpu_seconds_per_day,
    )
    ctx.services.add(
        artifact_store=store,
        notifier=notifier,
        registry=registry,
        deployments=deployments,
        nodes=nodes,
        secrets=secrets,
    )
    try:
        async with nodes.running():
            yield
    finally:
        registry.checks.close()
        await notifier.stop()
        await close_database(engine)


def secret_key(settings: Settings) -> bytes:
    """The key of secret values at rest: `secrets.key`, else `secrets.key_file` (by default
    `{state_dir}/secrets.key`), which a first start creates, so `edgefn dev` needs no setting."""
    if settings.secrets.key:
        return parse_key(settings.secrets.key)  # checked by load_settings
    path = Path(settings.secrets.key_file or settings.effective_state_dir / "secrets.key")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return load_or_create_key(path)
    except (SecretKeyError, OSError) as exc:
        raise SettingsError(f"secrets.key_file {exc}") from None


def advertised_urls(settings: RunnerSettings, cp_url: str) -> tuple[str, str]:
    """The ingress and metrics URLs the runner reports with its heartbeats (`runner.public_url`,
    `runner.metrics_url`, or what it binds); may resolve the CP's host name, so off the loop."""
    return (
        advertised(settings.public_url, settings.host, settings.ingress_port, cp_url),
        advertised(settings.metrics_url, settings.host, settings.metrics_port, cp_url),
    )


def node_http_client(ctx: AppContext, base_url: str) -> httpx.AsyncClient:
    verify = node_client_context(ctx.settings, base_url) or True
    return httpx.AsyncClient(base_url=base_url, verify=verify, timeout=httpx.Timeout(15.0))


@contextlib.asynccontextmanager
async def runner(
    ctx: AppContext, *, cp_url: str, cert_file: Path, key_file: Path, process: ProcessKind = "single"
) -> AsyncIterator[NodeState]:
    """The node's state, agent and (unless `process` is the agent of ingress workers) ingress, in
    `ctx.services`; the sync agent starts with `agent_running`."""
    settings = ctx.settings
    state_dir = Path(settings.runner.state_dir)
    client = node_http_client(ctx, cp_url)
    credentials = NodeCredentials(settings.runner.node_id, cert_file, key_file)
    cp = ControlPlaneClient(client, credentials)
    workers = process == "agent"
    parts = assemble_runner(
        ctx,
        process,
        report=cp.report,
        publish=partial(save_state, state_dir / SERVING_FILE) if workers else None,
    )
    node = parts.node
    drain = combined(node.drain_usage, UsageCollector(state_dir / USAGE_DIR).drain)
    public_url, metrics_url = await asyncio.to_thread(advertised_urls, settings.runner, cp_url)
    log.info("runner %s reports ingress %s, metrics %s", settings.runner.node_id, public_url, metrics_url)
    agent = SyncAgent(
        cp,
        node_id=settings.runner.node_id,
        labels=dict(settings.runner.labels),
        state_dir=state_dir,
        interval_s=settings.heartbeat.interval_s,
        watch=settings.heartbeat.watch,
        apply=node.apply,
        settled=node.settled,
        inventory=node.inventory,
        drain_usage=drain if workers else node.drain_usage,
        public_url=public_url,
        metrics_url=metrics_url,
    )
    ctx.services.add(agent=agent)
    try:
        yield node
    finally:
        await parts.close()
        await client.aclose()


def runner_listeners(ctx: AppContext, *, ingress_port: int | None, metrics_port: int) -> list[Listener]:
    """The runner's listeners on `runner.host`: the ingress (None: granian workers serve it) and metrics."""
    settings = ctx.settings.runner
    listeners = []
    if ingress_port is not None:
        limits = ConnectionLimits.ingress(settings)
        listeners.append(
            Listener("ingress", build_app("ingress", ctx), settings.host, ingress_port, limits=limits)
        )
    return [*listeners, Listener("metrics", build_app("metrics", ctx), settings.host, metrics_port)]


@contextlib.asynccontextmanager
async def agent_running(ctx: AppContext) -> AsyncIterator[None]:
    """Restores the saved desired state, then runs the sync agent in the background: entered before
    the listeners, a runner restarted during a CP outage never answers 404 for what it served."""
    agent = ctx.services.require(SyncAgent)
    await agent.restore()
    task = asyncio.create_task(agent.run(), name="sync-agent")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
