"""Built-in plugin: one JSON line per invocation on standard output (requirement 8.4).

msgspec renders the record and structlog's bytes logger writes it to stdout: no logging
machinery on the hot path, a few microseconds per line (bench/observability.py). The same
record feeds the live tail when the invocation's project is being tailed.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import structlog

from edgehost.contracts import Invocation
from edgehost.hookspecs import hookimpl
from edgehost.runner.tail import TAIL

_encode = msgspec.json.Encoder().encode
LEVELS = {0: "debug", 1: "info", 2: "warn", 3: "error"}  # the guest ABI's `log` levels
# structlog's bytes logger is the sink (one locked write and flush per line, so lines from
# guest threads never interleave); its processor chain is skipped on purpose: it cost ~10 µs
# per line, the record is already the event dict and msgspec renders it in under 1 µs.
_sink = structlog.BytesLogger(sys.stdout.buffer)


def log_record(invocation: Invocation) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event": "invocation",
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
            {"level": LEVELS.get(line.level, line.level), "message": line.message, "source": line.source}
            for line in invocation.logs
        ]
    return record


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    record = log_record(invocation)
    _sink.msg(_encode(record))
    TAIL.offer(invocation.tenant, record)
