"""The ingress as a Litestar ASGI mount at `/`, so plugins' middleware wraps user traffic too."""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.handlers import ASGIRouteHandler

from edgehost.context import AppContext
from edgehost.runner.ingress import Ingress


def ingress_mount(ctx: AppContext) -> ASGIRouteHandler:
    ingress: Ingress = ctx.services["ingress"]

    @asgi("/", is_mount=True, copy_scope=False)
    async def serve(scope: Any, receive: Any, send: Any) -> None:
        await ingress(scope, receive, send)

    return serve
