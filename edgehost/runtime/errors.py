"""Errors the runtime raises; codes are the ABI's `error_code` label values."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import LogLine

ERROR_CODES = (
    "timeout",
    "trap",
    "capability_denied",
    "bad_response",
    "instantiate_failed",
    "host_error",
    "quota_exceeded",
    "rate_limited",
    "payload_too_large",
)


class InvokeError(Exception):
    """A failed invocation; `code` feeds metrics and the HTTP status mapping."""

    def __init__(self, code: str, message: str, logs: list[LogLine] | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.logs: list[LogLine] = logs if logs is not None else []


class ValidationError(Exception):
    """A module refused at registration; `message` is shown to the developer as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
