"""Host functions the guest may import, and the per-invocation context they see.

A HostFunction is plain data so a plugin hook can contribute its own imports;
`call(ctx, caller, *args)` receives i32/i64 arguments as unsigned integers and
returns the result value (or None). Raising fails the invocation: an
InvokeError keeps its code, anything else becomes a `trap`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from . import egress
from .codec import MAX_HEADER_BYTES, WireError, decode_request, encode_response
from .errors import InvokeError
from .fastcall import GuestMemory, OutOfBounds, RawFunc, context_address
from .types import FunctionSpec, LogLine

I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()
DEFAULT_MAX_FETCH_BYTES = 1 << 20
DEFAULT_MAX_LOG_BYTES = 64 << 10
MAX_LOG_LINES = 1000
TRUNCATED = " [log output truncated]"
_LEVELS = range(4)
_STREAM_LEVELS = {"stdout": 1, "stderr": 2}


@dataclass(frozen=True, slots=True)
class OutputLimits:
    """What one invocation may hand the host, in bytes: the `runner.max_fetch_bytes`,
    `runner.max_guest_output_bytes` and `runner.max_response_header_bytes` settings (docs/settings.md).

    - `fetch_bytes`: each http_fetch response as the guest receives it, header fields included;
    - `output_bytes`: guest output kept per invocation (stdout, stderr, `edgefn.log`, newlines
      included), counted where it is copied out of guest memory (`InvocationContext`);
    - `header_bytes`: the header fields of the guest's response, as sent (`name: value` CRLF);
      more is `bad_response` (codec.decode_response).
    """

    fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES
    output_bytes: int = DEFAULT_MAX_LOG_BYTES
    header_bytes: int = MAX_HEADER_BYTES


DEFAULT_LIMITS = OutputLimits()


@dataclass(frozen=True)
class HostFunction:
    module: str
    name: str
    params: tuple[wasmtime.ValType, ...]
    results: tuple[wasmtime.ValType, ...]
    call: Callable[..., Any]

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


class GuestAllocFailed(Exception):
    """The guest's edgefn_alloc returned 0."""


class InvocationContext:
    """State of the one invocation (or instantiation) running on this thread.

    Guest output (stdout, stderr, `edgefn.log`) is bounded where it is copied out of guest
    memory: at most `max_log_bytes` bytes (newlines included) and MAX_LOG_LINES lines per
    invocation. Host functions copy no more than `log_room()` bytes and report what they
    dropped, so a guest writing gigabytes costs the host a few kilobytes and no time; the
    first thing dropped marks the last line with TRUNCATED.
    """

    __slots__ = (
        "_lines_left",
        "_log_room",
        "_partial",
        "_truncated",
        "deadline",
        "failure",
        "logs",
        "max_fetch_bytes",
        "request_id",
        "spec",
        "waited",
    )

    def __init__(
        self,
        spec: FunctionSpec,
        request_id: str,
        deadline: float,
        *,
        max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    ) -> None:
        self.spec = spec
        self.request_id = request_id
        self.deadline = deadline  # time.monotonic() based
        self.max_fetch_bytes = max_fetch_bytes
        self.logs: list[LogLine] = []
        self.failure: InvokeError | None = None
        self.waited = 0.0  # seconds host functions spent blocked (not guest CPU)
        self._log_room = max_log_bytes
        self._lines_left = MAX_LOG_LINES
        self._truncated = False
        self._partial: dict[str, bytearray] = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def fail(self, error: InvokeError) -> None:
        """Remember why a host function trapped; the first reason wins."""
        if self.failure is None:
            self.failure = error

    def log_room(self) -> int:
        """Bytes of output the log still takes: copy no more than this out of guest memory."""
        return self._log_room

    def log(self, level: int, message: str, source: str) -> None:
        """A line the host composed (it may quote guest data): bounded like guest output."""
        raw = message.encode("utf-8", "surrogateescape")
        self.log_bytes(level, raw[: self._log_room], source, len(raw))

    def log_bytes(self, level: int, raw: bytes, source: str, size: int) -> None:
        """One whole line of `size` bytes, of which `raw` (at most `log_room()`) was copied."""
        self._log_room -= len(raw)
        if raw or size == 0:
            self._line(level, raw, source)
        if len(raw) < size:
            self._truncate(source)

    def write_stream(self, source: str, raw: bytes, size: int) -> None:
        """`size` bytes written to stdout/stderr, of which `raw` (at most `log_room()`) was copied:
        captured line by line, an unfinished line held back until its newline or the end."""
        self._log_room -= len(raw)
        partial = self._partial.setdefault(source, bytearray())
        end = raw.rfind(b"\n")
        if end >= 0:
            partial += raw[:end]
            level = _STREAM_LEVELS[source]
            for line in partial.split(b"\n"):
                self._line(level, line, source)
            partial[:] = raw[end + 1 :]
        else:
            partial += raw
        if len(raw) < size:
            self._flush(source)
            self._truncate(source)

    def flush_streams(self) -> list[LogLine]:
        for source in list(self._partial):
            self._flush(source)
        return self.logs

    def _flush(self, source: str) -> None:
        partial = self._partial.pop(source, None)
        if partial:
            self._line(_STREAM_LEVELS[source], bytes(partial), source)

    def _line(self, level: int, raw: bytes | bytearray, source: str) -> None:
        if self._lines_left <= 0:
            self._truncate(source)
            return
        self._lines_left -= 1
        self.logs.append(LogLine(level, raw.decode("utf-8", "replace"), source))

    def _truncate(self, source: str) -> None:
        """Something was dropped: nothing more is copied, and the log says so once."""
        self._log_room = 0
        if self._truncated:
            return
        self._truncated = True
        if self.logs:
            self.logs[-1].message += TRUNCATED
        else:
            self.logs.append(LogLine(_STREAM_LEVELS.get(source, 1), TRUNCATED.strip(), source))

    @staticmethod
    def memory(caller: wasmtime.Caller) -> GuestMemory:
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise InvokeError("trap", "the guest does not export its memory")
        return GuestMemory(context_address(caller), memory._memory)

    def write_guest(self, caller: wasmtime.Caller, data: bytes) -> int:
        """Copy `data` into a buffer from the guest's own edgefn_alloc; returns (ptr << 32) | len."""
        alloc = caller.get("edgefn_alloc")
        if not isinstance(alloc, wasmtime.Func):
            raise InvokeError("trap", "the guest does not export edgefn_alloc")
        raw = RawFunc(context_address(caller), alloc._func, 1)
        raw.vals[0].i32 = len(data)
        raw.call()
        ptr = raw.vals[0].i32 & 0xFFFFFFFF
        if ptr == 0:
            raise GuestAllocFailed(f"edgefn_alloc({len(data)}) returned 0")
        self.memory(caller).write(ptr, data)
        return (ptr << 32) | len(data)


_current = threading.local()


def bind_context(ctx: InvocationContext | None) -> None:
    """Make `ctx` the one host functions on this thread act for."""
    _current.ctx = ctx


def current_context() -> InvocationContext:
    ctx: InvocationContext | None = getattr(_current, "ctx", None)
    if ctx is None:
        raise InvokeError("trap", "a host function ran outside any invocation")
    return ctx


def _log(ctx: InvocationContext, caller: wasmtime.Caller, level: int, ptr: int, size: int) -> None:
    try:
        raw = ctx.memory(caller).read_prefix(ptr, size, ctx.log_room())
    except OutOfBounds as exc:
        raise InvokeError("trap", f"edgefn.log was given a buffer outside guest memory: {exc}") from None
    ctx.log_bytes(level if level in _LEVELS else 1, raw, "log", size)


def _http_fetch(ctx: InvocationContext, caller: wasmtime.Caller, ptr: int, size: int) -> int:
    try:
        request = decode_request(ctx.memory(caller).read(ptr, size))
    except (OutOfBounds, WireError):
        return egress.MALFORMED
    started = time.perf_counter()
    try:
        status, headers, body = egress.fetch(
            request, allow=ctx.spec.http_allow, deadline=ctx.deadline, max_bytes=ctx.max_fetch_bytes
        )
    except egress.FetchRefused as exc:
        ctx.log(0, f"http_fetch {request.method} {request.uri} refused ({exc.code}): {exc}", "log")
        return exc.code
    finally:
        ctx.waited += time.perf_counter() - started
    try:
        return ctx.write_guest(caller, encode_response(status, headers, body))
    except GuestAllocFailed:
        return egress.TOO_LARGE


def builtin_host_functions() -> list[HostFunction]:
    return [
        HostFunction("edgefn", "log", (I32, I32, I32), (), _log),
        HostFunction("edgefn", "http_fetch", (I32, I32), (I64,), _http_fetch),
    ]
