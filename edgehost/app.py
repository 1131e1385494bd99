"""App assembly: each listener's Litestar app from the plugins' hooks (the `core` plugin's among them),
and the fast path in front of it where that skips nothing a plugin added.

`build_app` returns one type for every listener, `ListenerApp`: its ASGI target. Its `fast_path`
answers what it `takes` before Litestar (the ingress's user traffic, the CP's node heartbeats: see
edgehost/runner/mount.py and edgehost/controlplane/heartbeat_front.py), only when no plugin added
per-request work to the listener; `edgefn plugins` shows which listeners take one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.handlers import BaseRouteHandler
from litestar.routes import HTTPRoute

from edgehost.context import AppContext

LISTENERS = ("api", "node", "ingress", "metrics")
# Per-request work a fast path would skip: any of it on the app turns the fast path off.
PER_REQUEST_WORK = ("middleware", "guards", "before_request", "after_request", "after_response")


class FastPath(Protocol):
    """An ASGI handler for the requests it `takes`, answered before Litestar."""

    name: str

    def takes(self, scope: Any) -> bool: ...

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...


@dataclass(frozen=True)
class ListenerApp:
    """The ASGI app of one listener: `fast_path` answers what it takes, `litestar` everything else
    (other requests, and lifespan, which runs every plugin's start-up and shutdown)."""

    listener: str
    litestar: Litestar
    fast_path: FastPath | None = None

    @property
    def state(self) -> State:
        return self.litestar.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fast = self.fast_path
        if fast is not None and fast.takes(scope):
            await fast(scope, receive, send)
        else:
            await self.litestar(scope, receive, send)


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


def app_config(listener: str, ctx: AppContext) -> AppConfig:
    """Litestar's `AppConfig` of `listener`: every plugin's routes, middleware, lifespan tasks and
    dependencies, then every plugin's `edgehost_app_config` (exception handlers, guards, Litestar
    plugins, ...). `state` holds `ctx` and `ctx.services`, also services started after this call
    (copied in when the app starts serving). Raises ValueError for a listener not in LISTENERS."""
    if listener not in LISTENERS:
        raise ValueError(f"unknown listener {listener!r}")
    hook = ctx.hook
    dependencies: dict[str, Any] = {}
    for provided in hook.edgehost_dependencies(listener=listener, ctx=ctx, role=listener):
        dependencies.update(provided or {})

    def expose_services(app: Litestar) -> None:
        """Services started after assembly (the CP's registry, the runner's node) join the state."""
        app.state.update(ctx.services.named())

    config = AppConfig(
        route_handlers=_flat(hook.edgehost_route_handlers(listener=listener, ctx=ctx, role=listener)),
        middleware=_flat(hook.edgehost_middleware(listener=listener, ctx=ctx, role=listener)),
        lifespan=_flat(hook.edgehost_lifespan(listener=listener, ctx=ctx, role=listener)),
        dependencies=dependencies,
        on_startup=[expose_services],
        state=State({"ctx": ctx, **ctx.services.named()}),
        # Litestar's own default: AppConfig leaves it Empty, which `Litestar.from_config` refuses.
        request_max_body_size=10_000_000,
    )
    hook.edgehost_app_config(listener=listener, ctx=ctx, config=config, role=listener)
    config.route_handlers = [fresh_options(_own(h)) for h in config.route_handlers]
    return config


def _own(handler: Any) -> Any:
    """A copy of a route handler for this app alone. Litestar sets the registering app as the
    handler's owner and keeps what it resolves through it (guards, response headers) on the
    handler, so one handler in two listeners' apps (the core's `/healthz`) would carry one
    listener's guards into the other (a shallow copy would still share its response handler). Litestar copies
    routers itself."""
    return copy.deepcopy(handler) if isinstance(handler, BaseRouteHandler) else handler


def fast_path(listener: str, app: Litestar) -> tuple[str | None, str]:
    """(the fast path `listener` takes with `app`, or None; why, in words for `edgefn plugins`)."""
    work = [name.replace("_", " ") for name in PER_REQUEST_WORK if getattr(app, name)]
    if listener == "ingress":
        from edgehost.runner.mount import INGRESS_MOUNT

        handlers = [
            handler
            for route in app.routes
            for handler in (route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler])
        ]
        if any(handler.name != INGRESS_MOUNT for handler in handlers):
            return None, "a plugin adds routes"
        name = "ingress"
    elif listener in ("api", "node"):
        from edgehost.controlplane.heartbeat_front import heartbeat_body_limit

        if heartbeat_body_limit(app) is None:
            return None, "no heartbeat route on this listener"
        name = "heartbeats"
    else:
        return None, "no fast path for this listener"
    if work:
        return None, f"a plugin adds {', '.join(work)}"
    return name, "answered before Litestar"


def build_app(listener: str, ctx: AppContext) -> ListenerApp:
    """The ASGI app of `listener` (`app_config`), behind its fast path when `fast_path` allows one.
    The ingress's fast path needs the `Ingress` service (`ctx.services`)."""
    app = Litestar.from_config(app_config(listener, ctx))
    name, _ = fast_path(listener, app)
    front: FastPath | None = None
    if name == "ingress":
        from edgehost.runner.ingress import Ingress
        from edgehost.runner.mount import DirectIngress

        front = DirectIngress(ctx.services.require(Ingress))
    elif name == "heartbeats":
        from edgehost.controlplane.heartbeat_front import HeartbeatFront

        front = HeartbeatFront.for_app(app, ctx)
    return ListenerApp(listener, app, front)
