"""JSON errors for every API: `{"error": ..., "detail": ...}` with the right status, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

log = logging.getLogger("edgefn.api")


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


def _json(status: int, error: str, detail: Any) -> Response[dict[str, Any]]:
    return Response({"error": error, "detail": detail}, status_code=status, media_type=MediaType.JSON)


def api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return _json(exc.status, exc.error, exc.detail)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        return _json(400, "bad_request", exc.extra or exc.detail)
    if isinstance(exc, NotFoundException):
        return _json(404, "not_found", exc.detail)
    error = {401: "unauthorized", 403: "forbidden", 405: "method_not_allowed", 413: "payload_too_large"}
    return _json(exc.status_code, error.get(exc.status_code, "http_error"), exc.detail)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _json(500, "internal_error", "the server hit an unexpected error; it has been logged")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
