"""Built-in plugin: one JSON line per invocation on standard output (requirement 8.4).

msgspec renders the record and structlog's bytes logger writes it to stdout: no logging
machinery on the hot path, a few microseconds per line (bench/observability.py). Lines go out
in batches at most 10 ms late (`LineBatch`): a write and flush per line was the largest cost
left in the hook. The same record feeds the live tail when the invocation's project is being
tailed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import sys
import threading
from typing import Protocol

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


class Sink(Protocol):
    def msg(self, message: bytes) -> None: ...


class LineBatch:
    """Lines written together at most FLUSH_S after the first of them, or once MAX_LINES or
    MAX_BYTES wait.

    Under load that is one write for dozens of requests instead of a write and a flush each; a
    line reaches standard output at most FLUSH_S late. A line can be large (64 KiB of guest output,
    up to six times that once JSON escapes control characters), so the queue is bounded in bytes
    too. Called off a loop (a script, a guest thread), a line is written at once with what is queued.
    """

    FLUSH_S = 0.01
    MAX_LINES = 256
    MAX_BYTES = 1 << 20

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._lines: list[bytes] = []
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, line: bytes) -> None:
        with self._lock:
            self._lines.append(line)
            self._bytes += len(line)
            queued, size = len(self._lines), self._bytes
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if queued >= self.MAX_LINES or size >= self.MAX_BYTES:
            self.flush()
        elif queued == 1:
            loop.call_later(self.FLUSH_S, self.flush)

    def flush(self) -> None:
        with self._lock:
            lines, self._lines, self._bytes = self._lines, [], 0
        if lines:
            self.sink.msg(b"\n".join(lines))


_lines = LineBatch(_sink)


@atexit.register
def flush() -> None:
    """Writes the queued lines now: at exit, or before whoever owns stdout hands it over."""
    with contextlib.suppress(ValueError, OSError):  # stdout may already be closed
        _lines.flush()


def set_sink(sink: Sink) -> None:
    """Sends the lines to `sink` (anything with `msg(bytes)`, given one or more lines joined by
    newlines) instead of standard output: `edgefn dev` on a terminal prints them readable."""
    flush()
    _lines.sink = sink


class GuestLine(msgspec.Struct):
    level: str | int
    message: str
    source: str


class InvocationRecord(msgspec.Struct, omit_defaults=True, tag_field="event", tag="invocation"):
    """The log line's fields, in order; a Struct encodes in a fraction of a dict's time.

    The tag makes every line start with `"event":"invocation"`, so a log pipeline can tell
    invocation lines from the process's own lines (docs/observability.md).
    """

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
    line = _encode(log_record(invocation))
    _lines.add(line)
    TAIL.offer(invocation.tenant, line)
