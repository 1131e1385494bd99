"""A plugin that breaks the API's contract on purpose: every error body in Litestar's default shape.

Middleware on the `api` role rewrites each 4xx/5xx body to `{"status_code": ..., "detail": ...}`, the
body the issue found the API answering. A fuzz run against a control plane with this plugin must fail.
"""

from __future__ import annotations

import json
from typing import Any

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl


def litestar_default_errors(app: Any) -> Any:
    async def rewritten(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = 0

        async def rewrite(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
                    message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and status >= 400:
                body = {"status_code": status, "detail": "Bad Request", "extra": {}}
                message = {**message, "body": json.dumps(body).encode()}
            await send(message)

        await app(scope, receive, rewrite)

    return rewritten


@hookimpl
def edgehost_middleware(role: str, ctx: AppContext) -> list[Any]:
    return [litestar_default_errors] if role == "api" else []
