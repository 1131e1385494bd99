"""wasi:io 0.2 (`poll`, `error`, `streams`): pollables that really wait, and byte streams over
host buffers (a request body, a response body, stdout and stderr).

A wait never outlives the invocation: `Pollable.block` sleeps at most until its deadline, then
fails the invocation with `timeout`, as a guest spinning past it would (ABI, "Limits").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from wasmtime.component import Variant

from ..errors import InvokeError
from .state import ComponentState, Handle, Handler
from .values import case, err, ok

# What check-write grants at a time: at least the 4096 bytes blocking-write-and-flush may carry.
WRITE_PERMIT = 1 << 16
CLOSED = case("closed")


class Pollable:
    """Ready at `due` (time.monotonic() seconds), or at once when `due` is None."""

    __slots__ = ("due",)

    def __init__(self, due: float | None = None) -> None:
        self.due = due

    def ready(self) -> bool:
        return self.due is None or time.monotonic() >= self.due


def wait_until(state: ComponentState, due: float) -> None:
    """Sleeps until `due`, counted as waiting (not guest CPU); past the deadline, `timeout`."""
    ctx = state.invocation()
    started = time.monotonic()
    until = min(due, ctx.deadline)
    if until > started:
        time.sleep(until - started)
    ctx.waited += time.monotonic() - started
    if due > ctx.deadline:
        raise InvokeError("timeout", "the guest waited past its max_execution_ms")


class HostError:
    """A wasi:io `error`: what went wrong, for `to-debug-string`."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class InputStream:
    """Reads `data` from the start; closed once it is all read."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def read(self, size: int) -> Variant:
        if self.pos >= len(self.data) and size > 0:
            return err(CLOSED)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return ok(chunk.tobytes())


class OutputStream:
    """Hands every write to `sink`, which raises InvokeError when the bytes go over a limit."""

    __slots__ = ("closed", "sink")

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink
        self.closed = False

    def write(self, data: bytes) -> Variant:
        if self.closed:
            return err(CLOSED)
        self.sink(data)
        return ok()


def _ready(state: ComponentState, _self: Handle) -> bool:
    return state.get(_self, Pollable).ready()


def _block(state: ComponentState, _self: Handle) -> None:
    due = state.get(_self, Pollable).due
    if due is not None:
        wait_until(state, due)


def poll(state: ComponentState, pollables: list[Handle]) -> list[int]:
    """The indices of the ready pollables, after waiting for the first to become ready."""
    if not pollables:
        raise InvokeError("trap", "the guest called wasi:io/poll.poll with no pollables")
    items = [state.get(handle, Pollable) for handle in pollables]
    ready = [index for index, item in enumerate(items) if item.ready()]
    if not ready:
        wait_until(state, min(item.due for item in items if item.due is not None))
        ready = [index for index, item in enumerate(items) if item.ready()]
    return ready


def _subscribe_input(state: ComponentState, self: Handle) -> Any:
    state.get(self, InputStream)  # a dead or foreign handle traps, as in every other method
    return state.own(Pollable(), "pollable")


def _subscribe_output(state: ComponentState, self: Handle) -> Any:
    state.get(self, OutputStream)
    return state.own(Pollable(), "pollable")


def _read(state: ComponentState, self: Handle, size: int) -> Variant:
    return state.get(self, InputStream).read(size)


def _skip(state: ComponentState, self: Handle, size: int) -> Variant:
    result = state.get(self, InputStream).read(size)
    return ok(len(cast(bytes, result.payload))) if result.tag == "ok" else result


def _check_write(state: ComponentState, self: Handle) -> Variant:
    return err(CLOSED) if state.get(self, OutputStream).closed else ok(WRITE_PERMIT)


def _write(state: ComponentState, self: Handle, contents: bytes) -> Variant:
    return state.get(self, OutputStream).write(contents)


def _flush(state: ComponentState, self: Handle) -> Variant:
    return err(CLOSED) if state.get(self, OutputStream).closed else ok()


def _write_zeroes(state: ComponentState, self: Handle, size: int) -> Variant:
    return state.get(self, OutputStream).write(bytes(min(size, WRITE_PERMIT)))


def _splice(state: ComponentState, self: Handle, source: Handle, size: int) -> Variant:
    out = state.get(self, OutputStream)
    read = state.get(source, InputStream).read(min(size, WRITE_PERMIT))
    if read.tag != "ok":
        return read
    data = cast(bytes, read.payload)
    written = out.write(data)
    return ok(len(data)) if written.tag == "ok" else written


def _to_debug_string(state: ComponentState, self: Handle) -> str:
    return state.get(self, HostError).message


POLL: dict[str, Handler] = {"[method]pollable.ready": _ready, "[method]pollable.block": _block, "poll": poll}
ERROR: dict[str, Handler] = {"[method]error.to-debug-string": _to_debug_string}
STREAMS: dict[str, Handler] = {
    "[method]input-stream.read": _read,
    "[method]input-stream.blocking-read": _read,
    "[method]input-stream.skip": _skip,
    "[method]input-stream.blocking-skip": _skip,
    "[method]input-stream.subscribe": _subscribe_input,
    "[method]output-stream.check-write": _check_write,
    "[method]output-stream.write": _write,
    "[method]output-stream.blocking-write-and-flush": _write,
    "[method]output-stream.flush": _flush,
    "[method]output-stream.blocking-flush": _flush,
    "[method]output-stream.subscribe": _subscribe_output,
    "[method]output-stream.write-zeroes": _write_zeroes,
    "[method]output-stream.blocking-write-zeroes-and-flush": _write_zeroes,
    "[method]output-stream.splice": _splice,
    "[method]output-stream.blocking-splice": _splice,
}
