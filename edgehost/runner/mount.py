"""How the ingress reaches granian: bare when it can be, inside Litestar when a plugin needs that.

User traffic only ever goes to `Ingress`, so Litestar's router, exception middleware and
`send` wrapper per request buy nothing unless a plugin adds ingress middleware or routes
(`edgehost_middleware` / `edgehost_route_handlers` for the "ingress" listener). Without those the
listener's target sends HTTP straight to the ingress and only lifespan events to Litestar,
which still runs every plugin's start-up and shutdown (bench/RESULTS.md has the gain).
"""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.handlers import ASGIRouteHandler

from edgehost.context import AppContext
from edgehost.runner.ingress import Ingress, Receive, Scope, Send

# The name of the core's ingress mount: a listener whose only routes carry it may take the fast path.
INGRESS_MOUNT = "edgefn-ingress"


def ingress_mount(ctx: AppContext) -> ASGIRouteHandler:
    """The ingress at `/` of the Litestar app, so plugins' middleware wraps user traffic too; the
    ingress is looked up per request, so the app can be assembled before the runner starts."""

    @asgi("/", is_mount=True, copy_scope=False, name=INGRESS_MOUNT)
    async def serve(scope: Any, receive: Any, send: Any) -> None:
        await ctx.services.require(Ingress)(scope, receive, send)

    return serve


class DirectIngress:
    """The `ingress` fast path when nothing a plugin added would be bypassed: HTTP straight to
    `Ingress`; the rest (lifespan) goes to the app (edgehost/app.py's `ListenerApp`)."""

    name = "ingress"

    def __init__(self, ingress: Ingress) -> None:
        self.ingress = ingress

    @staticmethod
    def takes(scope: Scope) -> bool:
        return scope["type"] == "http"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.ingress(scope, receive, send)
