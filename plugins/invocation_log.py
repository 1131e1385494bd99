"""Built-in plugin: one JSON line per invocation on standard output (requirement 8.4).

structlog with msgspec as serializer and a bytes logger on stdout: no stdlib logging
machinery on the hot path, a few microseconds per line.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import structlog

from edgehost.contracts import Invocation
from edgehost.hookspecs import hookimpl

_encode = msgspec.json.Encoder().encode
_logger = structlog.wrap_logger(
    structlog.BytesLogger(sys.stdout.buffer),
    processors=[structlog.processors.JSONRenderer(serializer=lambda obj, **_: _encode(obj))],
    cache_logger_on_first_use=True,
)


def log_record(invocation: Invocation) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": invocation.request_id,
        "function_id": invocation.function_id,
        "version": invocation.version,
        "project": invocation.tenant,
        "node_id": invocation.node_id,
        "method": invocation.method,
        "path": invocation.path,
        "status": invocation.status,
        "start_timestamp": invocation.start_timestamp,
        "end_timestamp": invocation.end_timestamp,
        "duration_ms": round((invocation.end_timestamp - invocation.start_timestamp) * 1000, 3),
        "execution_status": invocation.execution_status,
        "error_message": invocation.error_message,
        "error_code": invocation.error_code,
    }
    if invocation.logs:
        record["logs"] = [
            {"level": line.level, "message": line.message, "source": line.source} for line in invocation.logs
        ]
    return record


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    _logger.msg("invocation", **log_record(invocation))
