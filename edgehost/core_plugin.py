"""The `core` plugin: what every app of a listener has, contributed through the same hooks as any plugin.

Registered first by the plugin manager under the name `core`, and never disabled. Its assembly
hooks run first (`tryfirst`), so a plugin's `edgehost_app_config` sees the core's routes, error
rendering and request class and may change them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import MediaType, get
from litestar.datastructures import State

from edgehost.errors import EXCEPTION_HANDLERS
from edgehost.hookspecs import hookimpl
from edgehost.json_body import JsonRequest
from edgehost.plugin_manager import missing_capabilities, unknown_disabled

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

    from edgehost.context import AppContext


@get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Whether this listener serves")
async def healthz(state: State) -> dict[str, Any]:
    """200 once the listener serves; the runner's `/healthz` is on the metrics port, never the ingress."""
    return {"status": "ok", "mode": state.ctx.mode}


@hookimpl(tryfirst=True)
def edgehost_route_handlers(listener: str, ctx: AppContext) -> list[Any]:
    """The routes each listener always has: the developer API, the node API, the ingress, `/healthz`."""
    if listener == "api":
        from edgehost.controlplane.api import developer_router
        from edgehost.controlplane.artifact_api import artifact_router
        from edgehost.controlplane.nodes_api import nodes_router
        from edgehost.controlplane.secrets_api import secrets_router

        handlers = [healthz, developer_router(), nodes_router(), artifact_router(), secrets_router()]
        if not ctx.settings.tls_enabled:  # no separate mTLS listener: nodes use the API port
            from edgehost.controlplane.node_api import node_router

            handlers.append(node_router())
        return handlers
    if listener == "node":
        from edgehost.controlplane.artifact_api import artifact_router
        from edgehost.controlplane.node_api import node_router

        return [healthz, node_router(), artifact_router()]
    if listener == "ingress":
        from edgehost.runner.mount import ingress_mount

        return [ingress_mount(ctx)]
    return [healthz]


@hookimpl(tryfirst=True)
def edgehost_app_config(listener: str, ctx: AppContext, config: AppConfig) -> None:
    """Every listener answers errors in the API's JSON shape and decodes JSON bodies with msgspec; the
    developer API also serves its OpenAPI document."""
    config.exception_handlers = {**EXCEPTION_HANDLERS, **config.exception_handlers}
    config.request_class = JsonRequest
    if listener == "api":
        from edgehost.controlplane.openapi import openapi_config

        config.openapi_config = openapi_config()


@hookimpl
def edgehost_startup_problems(ctx: AppContext) -> list[str]:
    """The core's own report, through the same hook as any plugin's: what disabled built-ins left out."""
    disabled = ctx.settings.disabled_plugins
    return [*unknown_disabled(disabled, ctx.settings.plugins), *missing_capabilities(ctx.pm, disabled)]


@hookimpl
def edgehost_metric_collectors(ctx: AppContext) -> list[Any]:
    """The core's own state at scrape time; imported here, since `edgefn --help` needs none of it."""
    from edgehost.collectors import core_collectors

    return list(core_collectors(ctx.services))
