"""Every error the control plane answers, in one shape: `{"error": ..., "detail": ...}`, never a traceback.

`render` is the one place an exception becomes a status, headers and an `ErrorResponse` body: the
Litestar exception handlers and the heartbeat front (controlplane/heartbeat_front.py) both call it,
and the OpenAPI document publishes `ErrorResponse` on every error response (controlplane/openapi.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = logging.getLogger("edgefn.api")

# The `error` code of a Litestar HTTPException (routing, body size, framework validation) by status.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}
_INTERNAL = "the server hit an unexpected error; it has been logged"
_EMPTY_BODY = "the request body is empty; send a JSON object"


class FieldError(msgspec.Struct, kw_only=True):
    """One value the request got wrong: what is wrong, which field (`a.b[0]`, `data` for the whole
    body), and where it was sent (`body`, `path`, `query`)."""

    message: str
    key: str
    source: str


class ErrorResponse(msgspec.Struct, kw_only=True):
    """The body of every 4xx and 5xx answer. `error` is a stable machine-readable code
    (`bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, ...); `detail` says
    what went wrong for a person, or lists the offending fields of a 400."""

    error: str
    detail: str | list[FieldError]


class ApiError(Exception):
    """A refusal the API answers as `status` with `ErrorResponse(error, detail)`."""

    def __init__(self, status: int, error: str, detail: str | list[FieldError] = "") -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


def render(exc: Exception, method: str, path: str) -> tuple[int, Mapping[str, str], ErrorResponse]:
    """Status, extra headers and body for any exception raised while answering `method path`.

    Unexpected exceptions are logged with their traceback and answered 500 without it. A 405 keeps
    the `Allow` header Litestar's router puts on it (RFC 9110 section 15.5.6).
    """
    if isinstance(exc, ApiError):
        return exc.status, {}, ErrorResponse(error=exc.error, detail=_detail(exc.status, exc.detail))
    if isinstance(exc, ValidationException):
        fields = [_field(item) for item in exc.extra] if isinstance(exc.extra, list) else []
        return 400, {}, ErrorResponse(error="bad_request", detail=fields or _detail(400, exc.detail))
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status >= 500:
            return _internal(exc, method, path)
        code = _CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
        return status, dict(exc.headers or {}), ErrorResponse(error=code, detail=_detail(status, exc.detail))
    return _internal(exc, method, path)


def _internal(exc: Exception, method: str, path: str) -> tuple[int, Mapping[str, str], ErrorResponse]:
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return 500, {}, ErrorResponse(error="internal_error", detail=_INTERNAL)


def _detail(status: int, detail: Any) -> str | list[FieldError]:
    """`detail` as the schema has it: a message (the status phrase if there is none) or field errors."""
    if isinstance(detail, list) and all(isinstance(item, FieldError) for item in detail):
        return detail
    return str(detail) if detail else HTTPStatus(status).phrase


def _field(item: Any) -> FieldError:
    """A Litestar validation message (`{"message", "key"?, "source"?}`) as a FieldError."""
    item = item if isinstance(item, Mapping) else {"message": str(item)}
    key, message = str(item.get("key", "")), str(item.get("message", ""))
    if key == "data" and message == "'data'":  # Litestar's words for a required body that was not sent
        message = _EMPTY_BODY
    return FieldError(message=message, key=key, source=str(item.get("source", "")))


def empty_body_error() -> ApiError:
    """The 400 of a request whose required JSON body is empty, worded as Litestar's is reworded."""
    return ApiError(400, "bad_request", [FieldError(message=_EMPTY_BODY, key="data", source="body")])


def error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    status, headers, body = render(exc, request.method, request.url.path)
    return Response(body, status_code=status, headers=dict(headers), media_type=MediaType.JSON)


EXCEPTION_HANDLERS: dict[Any, Any] = {Exception: error_handler}
