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
from .codec import WireError, decode_request, encode_response
from .errors import InvokeError
from .fastcall import GuestMemory, OutOfBounds, RawFunc, context_address
from .types import FunctionSpec, LogLine

I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()
DEFAULT_MAX_FETCH_BYTES = 1 << 20
DEFAULT_MAX_LOG_BYTES = 64 << 10
_LEVELS = range(4)
_STREAM_LEVELS = {"stdout": 1, "stderr": 2}


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
    """State of the one invocation (or instantiation) running on this thread."""

    __slots__ = (
        "_log_budget",
        "_partial",
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
        self._log_budget = max_log_bytes
        self._partial: dict[str, str] = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def fail(self, error: InvokeError) -> None:
        """Remember why a host function trapped; the first reason wins."""
        if self.failure is None:
            self.failure = error

    def log(self, level: int, message: str, source: str) -> None:
        """Append a log line, within a per-invocation byte budget so a chatty guest cannot flood us."""
        if self._log_budget <= 0:
            return
        self._log_budget -= len(message)
        if self._log_budget <= 0:
            message = message[: len(message) + self._log_budget] + " [log output truncated]"
        self.logs.append(LogLine(level, message, source))

    def write_stream(self, source: str, text: str) -> None:
        """Capture stdout/stderr text line by line, holding back an unfinished line."""
        *lines, rest = (self._partial.get(source, "") + text).split("\n")
        level = _STREAM_LEVELS[source]
        for line in lines:
            self.log(level, line, source)
        self._partial[source] = rest

    def flush_streams(self) -> list[LogLine]:
        partial, self._partial = self._partial, {}
        for source, rest in partial.items():
            if rest:
                self.log(_STREAM_LEVELS[source], rest, source)
        return self.logs

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
        raw = ctx.memory(caller).read(ptr, size)
    except OutOfBounds as exc:
        raise InvokeError("trap", f"edgefn.log was given a buffer outside guest memory: {exc}") from None
    ctx.log(level if level in _LEVELS else 1, raw.decode("utf-8", "replace"), "log")


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
