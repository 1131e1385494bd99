"""`POST /v1/node/heartbeat` answered in front of Litestar: the one route every node calls every few seconds.

Through Litestar a heartbeat spent more CPU in routing, dependency injection, signature models, the
exception middleware and response objects than in its own work (bench/RESULTS.md, cp-heartbeats), so
the listener's target answers exactly that method and path itself, with the same body decoder
(`json_body.decode`), `authenticate_node`, `answer_heartbeat` and error rendering (`errors.render`)
as the Litestar route, and sends everything else (other paths and methods, a trailing slash,
lifespan) to the app, which keeps the route for those and for the OpenAPI document. Statuses and
error bodies are the route's, in its order: the body is read and decoded (413, 400 also for a body
that did not arrive whole, then 400) before the credential is checked (401/403). Only taken
when no plugin adds per-request work (middleware, guards, request hooks) to the listener
(`edgehost.app.fast_path`), as such work must see every request.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from litestar import Litestar
from litestar.routes import HTTPRoute

from edgehost.asgi import IncompleteBody, PayloadTooLarge, read_body
from edgehost.context import AppContext
from edgehost.controlplane.node_api import answer_heartbeat, authenticate_node
from edgehost.controlplane.nodes import Nodes
from edgehost.errors import ApiError, render
from edgehost.json_body import decode
from edgehost.protocol import Heartbeat

PATH = "/v1/node/heartbeat"
_JSON = (b"content-type", b"application/json")


class HeartbeatFront:
    """The `heartbeats` fast path of a CP listener that serves node routes (edgehost/app.py's `ListenerApp`
    sends it the requests it `takes`, everything else to the Litestar app)."""

    name = "heartbeats"

    def __init__(self, ctx: AppContext, max_body_bytes: float) -> None:
        self.ctx = ctx
        self.max_body_bytes = max_body_bytes

    @classmethod
    def for_app(cls, app: Litestar, ctx: AppContext) -> HeartbeatFront | None:
        """The front for `app` if it has the heartbeat route (the api listener has it only without TLS)."""
        limit = heartbeat_body_limit(app)
        return None if limit is None else cls(ctx, limit)

    @staticmethod
    def takes(scope: Any) -> bool:
        return bool(scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            status, headers, body = 200, [_JSON], await self._heartbeat(scope, receive)
        except Exception as exc:  # every refusal and fault in the API's error shape
            status, extra, error = render(exc, "POST", PATH)
            headers = [_JSON, *((k.encode(), v.encode("latin-1")) for k, v in extra.items())]
            body = msgspec.json.encode(error)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _heartbeat(self, scope: Any, receive: Any) -> bytes:
        try:
            body = await read_body(receive, self.max_body_bytes)
        except PayloadTooLarge:
            raise ApiError(413, "payload_too_large", "Request Entity Too Large") from None
        except IncompleteBody:
            raise ApiError(400, "bad_request", "the request body did not arrive whole") from None
        beat: Heartbeat = decode(body, Heartbeat)
        node_id = authenticate_node(self.ctx, _header(scope, b"authorization"))
        reply = await answer_heartbeat(self.ctx.services.require(Nodes), node_id, beat)
        return msgspec.json.encode(reply)


def heartbeat_body_limit(app: Litestar) -> float | None:
    """The body limit of `app`'s heartbeat route (inf when unbounded), or None when it has none."""
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path == PATH:
            for handler in route.route_handlers:
                if "POST" in handler.http_methods:
                    return handler.resolve_request_max_body_size() or math.inf
    return None


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""
