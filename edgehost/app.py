"""App assembly: each role's Litestar app from the plugins' hooks (the `core` plugin's among them), and
the fast path in front of it where that skips nothing a plugin added.

`build_app` returns one type for every role, `RoleApp`: the listener's ASGI target. Its `fast_path`
answers what it `takes` before Litestar (the ingress's user traffic, the CP's node heartbeats: see
edgehost/runner/mount.py and edgehost/controlplane/heartbeat_front.py), only when no plugin added
per-request work to the role; `edgefn plugins` shows which roles take one.
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

ROLES = ("api", "node", "ingress", "metrics")
# Per-request work a fast path would skip: any of it on the app turns the fast path off.
PER_REQUEST_WORK = ("middleware", "guards", "before_request", "after_request", "after_response")


class FastPath(Protocol):
    """An ASGI handler for the requests it `takes`, answered before Litestar."""

    name: str

    def takes(self, scope: Any) -> bool: ...

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...


@dataclass(frozen=True)
class RoleApp:
    """The ASGI app of one role: `fast_path` answers what it takes, `litestar` everything else
    (other requests, and lifespan, which runs every plugin's start-up and shutdown)."""

    role: str
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


def app_config(role: str, ctx: AppContext) -> AppConfig:
    """Litestar's `AppConfig` of `role`: every plugin's routes, middleware, lifespan tasks and
    dependencies, then every plugin's `edgehost_app_config` (exception handlers, guards, Litestar
    plugins, ...). `state` holds `ctx` and `ctx.services`, also services started after this call
    (copied in when the app starts serving). Raises ValueError for a role not in ROLES."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    hook = ctx.hook
    dependencies: dict[str, Any] = {}
    for provided in hook.edgehost_dependencies(role=role, ctx=ctx):
        dependencies.update(provided or {})

    def expose_services(app: Litestar) -> None:
        """Services started after assembly (the CP's registry, the runner's node) join the state."""
        app.state.update(ctx.services)

    config = AppConfig(
        route_handlers=_flat(hook.edgehost_route_handlers(role=role, ctx=ctx)),
        middleware=_flat(hook.edgehost_middleware(role=role, ctx=ctx)),
        lifespan=_flat(hook.edgehost_lifespan(role=role, ctx=ctx)),
        dependencies=dependencies,
        on_startup=[expose_services],
        state=State({"ctx": ctx, **ctx.services}),
        # Litestar's own default: AppConfig leaves it Empty, which `Litestar.from_config` refuses.
        request_max_body_size=10_000_000,
    )
    hook.edgehost_app_config(role=role, ctx=ctx, config=config)
    config.route_handlers = [fresh_options(_own(h)) for h in config.route_handlers]
    return config


def _own(handler: Any) -> Any:
    """A copy of a route handler for this app alone. Litestar sets the registering app as the
    handler's owner and keeps what it resolves through it (guards, response headers) on the
    handler, so one handler in two roles' apps (the core's `/healthz`) would carry one role's
    guards into the other (a shallow copy would still share its response handler). Litestar copies
    routers itself."""
    return copy.deepcopy(handler) if isinstance(handler, BaseRouteHandler) else handler


def fast_path(role: str, app: Litestar) -> tuple[str | None, str]:
    """(the fast path `role` takes with `app`, or None; why, in words for `edgefn plugins`)."""
    work = [name.replace("_", " ") for name in PER_REQUEST_WORK if getattr(app, name)]
    if role == "ingress":
        from edgehost.runner.mount import INGRESS_MOUNT

        handlers = [
            handler
            for route in app.routes
            for handler in (route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler])
        ]
        if any(handler.name != INGRESS_MOUNT for handler in handlers):
            return None, "a plugin adds routes"
        name = "ingress"
    elif role in ("api", "node"):
        from edgehost.controlplane.heartbeat_front import heartbeat_body_limit

        if heartbeat_body_limit(app) is None:
            return None, "no heartbeat route on this role"
        name = "heartbeats"
    else:
        return None, "no fast path for this role"
    if work:
        return None, f"a plugin adds {', '.join(work)}"
    return name, "answered before Litestar"


def build_app(role: str, ctx: AppContext) -> RoleApp:
    """The ASGI app of `role` (`app_config`), behind its fast path when `fast_path` allows one.
    The ingress's fast path needs `ctx.services["ingress"]`."""
    app = Litestar.from_config(app_config(role, ctx))
    name, _ = fast_path(role, app)
    front: FastPath | None = None
    if name == "ingress":
        from edgehost.runner.mount import DirectIngress

        front = DirectIngress(ctx.services["ingress"])
    elif name == "heartbeats":
        from edgehost.controlplane.heartbeat_front import HeartbeatFront

        front = HeartbeatFront.for_app(app, ctx)
    return RoleApp(role, app, front)
