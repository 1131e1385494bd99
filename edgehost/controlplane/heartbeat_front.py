"""`POST /v1/node/heartbeat` answered in front of Litestar: the one route every node calls every few seconds.

Through Litestar a heartbeat spent more CPU in routing, dependency injection, signature models, the
exception middleware and response objects than in its own work (bench/RESULTS.md, cp-heartbeats), so
the listener's target answers exactly that method and path itself, with msgspec and the same
`authenticate_node` / `answer_heartbeat` as the Litestar route, and sends everything else (other
paths and methods, a trailing slash, lifespan) to the app, which keeps the route for those and for
the OpenAPI document. Statuses and error bodies are Litestar's, in its order: the body is read and
parsed (413, 400 `bad_request` for a body that did not arrive whole, then 400 `http_error` for
malformed JSON) before the credential is checked (401/403), and the heartbeat's fields are
validated (400 `bad_request`) after it; only a wrongly typed `node_id` and invalid UTF-8, which
Litestar answered 500, are 400 here. Only installed when no plugin adds
middleware to the role (`edgehost.app.build_app`), as such middleware must see every request.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import msgspec
from litestar import Litestar
from litestar.routes import HTTPRoute

from edgehost.asgi import IncompleteBody, PayloadTooLarge, read_body
from edgehost.context import AppContext
from edgehost.controlplane.node_api import answer_heartbeat, authenticate_node
from edgehost.errors import ApiError
from edgehost.protocol import Heartbeat

PATH = "/v1/node/heartbeat"
log = logging.getLogger("edgefn.api")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_FIELD_PATH = re.compile(r"`\$\.(.+)`$")  # where msgspec says a field error is, as Litestar reads it


class HeartbeatFront:
    """The listener target of a CP role that serves node routes: heartbeats here, the rest to `app`."""

    def __init__(self, app: Litestar, ctx: AppContext, max_body_bytes: float) -> None:
        self.app = app
        self.ctx = ctx
        self.max_body_bytes = max_body_bytes

    @classmethod
    def around(cls, app: Litestar, ctx: AppContext) -> Litestar | HeartbeatFront:
        """`app` behind a front if it has the heartbeat route (the api role has it only without TLS)."""
        for route in app.routes:
            if isinstance(route, HTTPRoute) and route.path == PATH:
                for handler in route.route_handlers:
                    if "POST" in handler.http_methods:
                        return cls(app, ctx, handler.resolve_request_max_body_size() or math.inf)
        return app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            status, body = await self._answer(scope, receive)
            headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await self.app(scope, receive, send)

    async def _answer(self, scope: Any, receive: Any) -> tuple[int, bytes]:
        """Status and JSON body; errors as `edgehost.errors` renders them, never a traceback."""
        try:
            return 200, await self._heartbeat(scope, receive)
        except ApiError as exc:
            return exc.status, _error(exc.error, exc.detail)
        except Exception:
            log.exception("unhandled error on POST %s", PATH)
            return 500, _error("internal_error", "the server hit an unexpected error; it has been logged")

    async def _heartbeat(self, scope: Any, receive: Any) -> bytes:
        try:
            body = await read_body(receive, self.max_body_bytes)
        except PayloadTooLarge:
            raise ApiError(413, "payload_too_large", "Request Entity Too Large") from None
        except IncompleteBody:
            raise ApiError(400, "bad_request", "the request body did not arrive whole") from None
        beat: Heartbeat | None = None
        invalid = "the request body is empty"
        if body:
            try:
                beat = msgspec.json.decode(body, type=Heartbeat, strict=False)
            except msgspec.ValidationError as exc:
                invalid = str(exc)
            except msgspec.DecodeError as exc:
                raise ApiError(400, "http_error", str(exc)) from None
            except UnicodeDecodeError:  # Litestar answered this one 500
                raise ApiError(400, "http_error", "JSON is malformed: invalid UTF-8") from None
        node_id = authenticate_node(self.ctx, _header(scope, b"authorization"))
        if beat is None:
            raise ApiError(400, "bad_request", [_field_error(invalid)])
        reply = await answer_heartbeat(self.ctx.services["nodes"], node_id, beat)
        return msgspec.json.encode(reply)


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _field_error(message: str) -> dict[str, str]:
    """A validation error in Litestar's shape: the message, the field it is about, `source: body`."""
    where = _FIELD_PATH.search(message)
    key = where.group(1) if where else "data"
    return {"message": message.split(" - ", 1)[0], "key": key, "source": "body"}


def _error(error: str, detail: Any) -> bytes:
    return msgspec.json.encode({"error": error, "detail": detail})
