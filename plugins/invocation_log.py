"""Built-in plugin: one JSON line per invocation on standard output (requirement 8.4).

msgspec renders the record and structlog's bytes logger writes it to stdout: no logging
machinery on the hot path, a few microseconds per line (bench/observability.py). Lines of
one event-loop turn go out in one write: under load a turn answers several requests, and a
write and flush per line was the largest cost left in the hook. The same record feeds the
live tail when the invocation's project is being tailed.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading

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


class LineBatch:
    """Lines queued during one loop turn and written together when the turn ends.

    Called off a loop (a script, a guest thread), a line is written at once with what is queued.
    """

    def __init__(self, sink: structlog.BytesLogger) -> None:
        self._sink = sink
        self._lines: list[bytes] = []
        self._lock = threading.Lock()

    def add(self, line: bytes) -> None:
        with self._lock:
            self._lines.append(line)
            first = len(self._lines) == 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if first:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            self._sink.msg(b"\n".join(lines))


_lines = LineBatch(_sink)
atexit.register(_lines.flush)


class GuestLine(msgspec.Struct):
    level: str | int
    message: str
    source: str


class InvocationRecord(msgspec.Struct, omit_defaults=True):
    """The log line's fields, in order; a Struct encodes in a fraction of a dict's time."""

    request_id: str
    function_id: str
    version: int
    project: str
    node_id: str
    method: str
    path: str
    status: int
    start_timestamp: float
    end_timestamp: float
    duration_ms: float
    execution_status: str
    error_message: str | None
    error_code: str | None
    event: str = "invocation"
    logs: list[GuestLine] | None = None  # only when the guest wrote any


def log_record(invocation: Invocation) -> InvocationRecord:
    logs = invocation.logs
    return InvocationRecord(
        invocation.request_id,
        invocation.function_id,
        invocation.version,
        invocation.tenant,
        invocation.node_id,
        invocation.method,
        invocation.path,
        invocation.status,
        invocation.start_timestamp,
        invocation.end_timestamp,
        round((invocation.end_timestamp - invocation.start_timestamp) * 1000, 3),
        invocation.execution_status,
        invocation.error_message,
        invocation.error_code,
        logs=[GuestLine(LEVELS.get(line.level, line.level), line.message, line.source) for line in logs]
        if logs
        else None,
    )


@hookimpl
def edgehost_invocation_finished(invocation: Invocation) -> None:
    record = log_record(invocation)
    _lines.add(_encode(record))
    TAIL.offer(invocation.tenant, record)
