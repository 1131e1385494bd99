"""How the ingress reaches granian: bare when it can be, inside Litestar when a plugin needs that.

User traffic only ever goes to `Ingress`, so Litestar's router, exception middleware and
`send` wrapper per request buy nothing unless a plugin adds ingress middleware or routes
(`edgehost_middleware` / `edgehost_route_handlers` for the "ingress" listener). Without those the
listener's target sends HTTP straight to the ingress and only lifespan events to Litestar,
which still runs every plugin's start-up and shutdown (bench/RESULTS.md has the gain).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, asgi
from litestar.handlers import ASGIRouteHandler

from edgehost.context import AppContext
from edgehost.runner.ingress import Ingress, Receive, Scope, Send


def ingress_mount(ctx: AppContext) -> ASGIRouteHandler:
    """The ingress at `/` of the Litestar app, so plugins' middleware wraps user traffic too."""
    ingress = ctx.services.require(Ingress)

    @asgi("/", is_mount=True, copy_scope=False)
    async def serve(scope: Any, receive: Any, send: Any) -> None:
        await ingress(scope, receive, send)

    return serve


class DirectIngress:
    """The listener target when no plugin wraps the ingress: HTTP to `Ingress`, the rest to the app."""

    def __init__(self, app: Litestar, ingress: Ingress) -> None:
        self.app = app
        self.ingress = ingress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.ingress(scope, receive, send)
        else:
            await self.app(scope, receive, send)  # type: ignore[arg-type]
