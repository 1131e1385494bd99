"""App assembly: one function builds the Litestar app of a listener from the core routes and hook results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from litestar import Litestar, MediaType, Router, get
from litestar.datastructures import State
from litestar.routes import HTTPRoute

from edgehost.context import AppContext
from edgehost.errors import EXCEPTION_HANDLERS
from edgehost.json_body import JsonRequest

if TYPE_CHECKING:
    from edgehost.controlplane.heartbeat_front import HeartbeatFront
    from edgehost.runner.mount import DirectIngress

LISTENERS = ("api", "node", "ingress", "metrics")


@get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Whether this listener serves")
async def healthz(state: State) -> dict[str, Any]:
    """200 once the listener serves; the runner's `/healthz` is on the metrics port, never the ingress."""
    return {"status": "ok", "mode": state.ctx.mode}


def _flat(groups: Iterable[Sequence[Any] | None]) -> list[Any]:
    return [item for group in groups if group for item in group]


def fresh_options(handler: Any) -> Any:
    """`handler`; a Router loses the OPTIONS handlers Litestar added while its routes were registered
    one by one, so the app adds one per path that lists all of the path's methods in `Allow`.

    Litestar 2 builds that handler when a path's first route is registered and keeps it when another
    method joins the path, so `OPTIONS` would list only the first (litestar issue #4169, fixed in 3).
    """
    if isinstance(handler, Router):
        for route in handler.routes:
            if isinstance(route, HTTPRoute):
                route.route_handlers = [h for h in route.route_handlers if not _default_options(h)]
    return handler


def _default_options(handler: Any) -> bool:
    return bool(getattr(handler.fn, "__qualname__", "").startswith("HTTPRoute.create_options_handler."))


def core_handlers(listener: str, ctx: AppContext) -> list[Any]:
    """The routes each listener always has; everything else comes from plugins."""
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


@overload
def build_app(listener: Literal["ingress"], ctx: AppContext) -> Litestar | DirectIngress: ...
@overload
def build_app(listener: str, ctx: AppContext) -> Litestar | DirectIngress | HeartbeatFront: ...
def build_app(listener: str, ctx: AppContext) -> Litestar | DirectIngress | HeartbeatFront:
    """The ASGI app of `listener`: core routes plus every plugin's routes, middleware, lifespan
    tasks and dependencies. `app.state` holds `ctx` and the services in `ctx.services`, also
    those started after this call (they are copied in when the app starts serving).

    The ingress answers user traffic without Litestar unless a plugin wraps it
    (edgehost/runner/mount.py); so do the CP's listeners node heartbeats (controlplane/heartbeat_front.py)."""
    if listener not in LISTENERS:
        raise ValueError(f"unknown listener {listener!r}")
    hook = ctx.hook
    routes = _flat(hook.edgehost_route_handlers(listener=listener, ctx=ctx, role=listener))
    middleware = _flat(hook.edgehost_middleware(listener=listener, ctx=ctx, role=listener))
    dependencies: dict[str, Any] = {}
    for provided in hook.edgehost_dependencies(listener=listener, ctx=ctx, role=listener):
        dependencies.update(provided or {})
    openapi = None
    if listener == "api":
        from edgehost.controlplane.openapi import openapi_config

        openapi = openapi_config()

    def expose_services(app: Litestar) -> None:
        """Services started after assembly (the CP's registry, the runner's node) join the state."""
        app.state.update(ctx.services.named())

    app = Litestar(
        route_handlers=[fresh_options(h) for h in (*core_handlers(listener, ctx), *routes)],
        middleware=middleware,
        on_startup=[expose_services],
        lifespan=_flat(hook.edgehost_lifespan(listener=listener, ctx=ctx, role=listener)),
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JsonRequest,
        openapi_config=openapi,
        state=State({"ctx": ctx, **ctx.services.named()}),
        logging_config=None,
        debug=False,
    )
    if listener == "ingress" and not routes and not middleware:
        from edgehost.runner.ingress import Ingress
        from edgehost.runner.mount import DirectIngress

        return DirectIngress(app, ctx.services.require(Ingress))
    if listener in ("api", "node") and not middleware:
        from edgehost.controlplane.heartbeat_front import HeartbeatFront

        return HeartbeatFront.around(app, ctx)
    return app
