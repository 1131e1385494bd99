"""Built-in plugin: one JSON line per invocation on standard output (requirement 8.4).

msgspec renders the record and structlog's bytes logger writes it to stdout: no logging
machinery on the hot path. The hook only queues the invocation's record; lines are rendered and
written in batches at most 10 ms late (`LineBatch`): a write and flush per line was the largest
cost left in the hook, and rendering a batch in one `encode_lines` call costs about half of
rendering its lines one by one (bench/observability.py). The same record feeds the live tail
when the invocation's project is being tailed (rendered at once, for those projects only).

What waits in the batch is the record, which the garbage collector does not track, rather than
the invocation: an invocation (its dict, its list) queued across hundreds of requests outlived
the young generations, so the queue kept promoting objects to the oldest one and triggering full
collections, each a pause of tens of milliseconds on a runner's heap (bench/ingress_path.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import sys
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import msgspec
import structlog

from edgehost.contracts import Invocation
from edgehost.hookspecs import hookimpl
from edgehost.runner.tail import TAIL

_encoder = msgspec.json.Encoder()
_encode = _encoder.encode
LEVELS = {0: "debug", 1: "info", 2: "warn", 3: "error"}  # the guest ABI's `log` levels
# structlog's bytes logger is the sink (one locked write and flush per line, so lines from
# guest threads never interleave); its processor chain is skipped on purpose: it cost ~10 µs
# per line, the record is already the event dict and msgspec renders it in under 1 µs.
_sink = structlog.BytesLogger(sys.stdout.buffer)


class Sink(Protocol):
    def msg(self, message: bytes) -> None: ...


Item = TypeVar("Item")


class LineBatch(Generic[Item]):
    """Items rendered and written together at most FLUSH_S after the first of them, or once
    MAX_LINES or MAX_BYTES wait.

    Under load that is one render and one write for dozens of requests instead of a render, a
    write and a flush each; a line reaches standard output at most FLUSH_S late. `encode` turns
    the queued items into their lines joined by newlines. A line can be large (64 KiB of guest
    output, up to six times that once JSON escapes control characters), so the queue is bounded
    by the bytes its adder announces too. Called off a loop (a script, a guest thread), an item is
    written at once with what is queued.
    """

    FLUSH_S = 0.01
    MAX_LINES = 256
    MAX_BYTES = 1 << 20

    def __init__(self, sink: Sink, encode: Callable[[list[Item]], bytes]) -> None:
        self.sink = sink
        self.encode = encode
        self._items: list[Item] = []
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, item: Item, size: int) -> None:
        """Queues `item`, whose line will take about `size` bytes."""
        with self._lock:
            self._items.append(item)
            self._bytes += size
            queued, size = len(self._items), self._bytes
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
            items, self._items, self._bytes = self._items, [], 0
        if items:
            self.sink.msg(self.encode(items))


def render(records: list[InvocationRecord]) -> bytes:
    """The log lines of `records`, joined by newlines (the sink ends the last one)."""
    try:
        return _encoder.encode_lines(records)[:-1]
    except UnicodeEncodeError:  # one of them holds a lone surrogate: each line on its own
        return b"\n".join(map(line_of, records))


def line_of(record: InvocationRecord) -> bytes:
    """One record's JSON line. Text the runtime decoded with `surrogateescape` (guest bytes that are
    not UTF-8) can hold lone surrogates, which UTF-8 cannot carry: such a line is written with
    every non-ASCII character as a JSON `\\u` escape instead of being lost (same keys, same values)."""
    try:
        return _encode(record)
    except UnicodeEncodeError:
        return json.dumps(msgspec.to_builtins(record), separators=(",", ":")).encode()


# Each line costs about this much besides its guest output (a guess that bounds the queue's memory).
LINE_BYTES = 512
_lines: LineBatch[InvocationRecord] = LineBatch(_sink, render)


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


class GuestLine(msgspec.Struct, gc=False):  # only strings and a number: never in a cycle
    level: str | int
    message: str
    source: str


class InvocationRecord(msgspec.Struct, omit_defaults=True, tag_field="event", tag="invocation", gc=False):
    """The log line's fields, in order; a Struct encodes in a fraction of a dict's time. Not tracked
    by the garbage collector (its fields are values and a list of GuestLine: never in a cycle).

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
    """Queues the invocation's record (module docstring), rendered with others later."""
    logs = invocation.logs
    record = log_record(invocation)
    _lines.add(record, LINE_BYTES + sum(len(line.message) for line in logs) * 6 if logs else LINE_BYTES)
    if invocation.tenant in TAIL.projects:
        TAIL.offer(invocation.tenant, line_of(record))
