"""The WASI preview1 whitelist of the guest ABI (docs/abi.md), as host functions.

Implemented here rather than through wasmtime's WasiConfig: stdout/stderr go
straight into the invocation's log (no file or pipe per store), no WASI state
has to be attached to every Store, and denied calls can be told apart from
traps. Everything else a module imports from WASI is linked to a stub that
fails the invocation with `capability_denied`.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from typing import Any

import wasmtime

from .errors import InvokeError
from .hostcalls import I32, I64, HostFunction, InvocationContext

MODULE = "wasi_snapshot_preview1"
_SUCCESS, _BADF, _INVAL, _SPIPE = 0, 8, 28, 70
# wasi-libc's IOV_MAX: like POSIX writev, more iovecs in one call is EINVAL.
_IOV_MAX = 1024
_U32_MAX = 0xFFFFFFFF
# random_get fills guest memory in pieces, checking the deadline between them.
_RANDOM_CHUNK = 64 << 10
_STREAMS = {1: "stdout", 2: "stderr"}
_CHARACTER_DEVICE = 2
_IOVEC = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_FDSTAT = struct.Struct("<BxHxxxxQQ")
_CLOCKS: dict[int, Callable[[], int]] = {
    0: time.time_ns,
    1: time.monotonic_ns,
    2: time.process_time_ns,
    3: time.thread_time_ns,
}
Caller = wasmtime.Caller


def _environ(ctx: InvocationContext) -> list[bytes]:
    return [f"{key}={value}".encode() + b"\0" for key, value in sorted(ctx.spec.env.items())]


def _put_sizes(
    ctx: InvocationContext, caller: Caller, count_ptr: int, size_ptr: int, items: list[bytes]
) -> int:
    memory = ctx.memory(caller)
    memory.write(count_ptr, _U32.pack(len(items)))
    memory.write(size_ptr, _U32.pack(sum(map(len, items))))
    return _SUCCESS


def _put_list(ctx: InvocationContext, caller: Caller, list_ptr: int, buf_ptr: int, items: list[bytes]) -> int:
    memory = ctx.memory(caller)
    for index, item in enumerate(items):
        memory.write(list_ptr + 4 * index, _U32.pack(buf_ptr))
        memory.write(buf_ptr, item)
        buf_ptr += len(item)
    return _SUCCESS


def args_sizes_get(ctx: InvocationContext, caller: Caller, argc_ptr: int, size_ptr: int) -> int:
    return _put_sizes(ctx, caller, argc_ptr, size_ptr, [])


def args_get(ctx: InvocationContext, caller: Caller, argv_ptr: int, buf_ptr: int) -> int:
    return _SUCCESS


def environ_sizes_get(ctx: InvocationContext, caller: Caller, count_ptr: int, size_ptr: int) -> int:
    return _put_sizes(ctx, caller, count_ptr, size_ptr, _environ(ctx))


def environ_get(ctx: InvocationContext, caller: Caller, list_ptr: int, buf_ptr: int) -> int:
    return _put_list(ctx, caller, list_ptr, buf_ptr, _environ(ctx))


def clock_res_get(ctx: InvocationContext, caller: Caller, clock: int, res_ptr: int) -> int:
    if clock not in _CLOCKS:
        return _INVAL
    ctx.memory(caller).write(res_ptr, _U64.pack(1000))
    return _SUCCESS


def clock_time_get(ctx: InvocationContext, caller: Caller, clock: int, precision: int, time_ptr: int) -> int:
    now = _CLOCKS.get(clock)
    if now is None:
        return _INVAL
    ctx.memory(caller).write(time_ptr, _U64.pack(now()))
    return _SUCCESS


def random_get(ctx: InvocationContext, caller: Caller, buf_ptr: int, size: int) -> int:
    """Fills the guest's buffer in pieces: the host never holds more than _RANDOM_CHUNK bytes, and
    a guest asking for gigabytes still stops at its deadline."""
    memory = ctx.memory(caller)
    memory.check(buf_ptr, size)
    for offset in range(0, size, _RANDOM_CHUNK):
        if ctx.remaining() <= 0:
            raise InvokeError("timeout", "the guest's random_get outlived its max_execution_ms")
        memory.write(buf_ptr + offset, os.urandom(min(_RANDOM_CHUNK, size - offset)))
    return _SUCCESS


def sched_yield(ctx: InvocationContext, caller: Caller) -> int:
    return _SUCCESS


def proc_exit(ctx: InvocationContext, caller: Caller, code: int) -> None:
    raise InvokeError("trap", f"the guest called proc_exit({code}) instead of returning a response")


def fd_write(ctx: InvocationContext, caller: Caller, fd: int, iovs_ptr: int, count: int, out_ptr: int) -> int:
    """Captures stdout/stderr into the invocation's log, copying out of guest memory no more than
    the log still takes (`InvocationContext.log_room`); the rest is written to nowhere, and the
    guest is told all of it was written so it does not retry."""
    source = _STREAMS.get(fd)
    if source is None:
        return _BADF
    if count > _IOV_MAX:
        return _INVAL
    memory = ctx.memory(caller)
    written = 0
    for ptr, size in _IOVEC.iter_unpack(memory.read(iovs_ptr, count * _IOVEC.size)):
        ctx.write_stream(source, memory.read_prefix(ptr, size, ctx.log_room()), size)
        written += size
    memory.write(out_ptr, _U32.pack(min(written, _U32_MAX)))
    return _SUCCESS


def fd_read(ctx: InvocationContext, caller: Caller, fd: int, iovs_ptr: int, count: int, out_ptr: int) -> int:
    if fd != 0:
        return _BADF
    ctx.memory(caller).write(out_ptr, _U32.pack(0))
    return _SUCCESS


def fd_close(ctx: InvocationContext, caller: Caller, fd: int) -> int:
    return _SUCCESS if fd in (0, 1, 2) else _BADF


def fd_seek(ctx: InvocationContext, caller: Caller, fd: int, offset: int, whence: int, out_ptr: int) -> int:
    return _SPIPE if fd in (0, 1, 2) else _BADF


def fd_fdstat_get(ctx: InvocationContext, caller: Caller, fd: int, stat_ptr: int) -> int:
    if fd not in (0, 1, 2):
        return _BADF
    rights = 0x40 if fd else 0x2  # fd_write for stdout/stderr, fd_read for stdin
    ctx.memory(caller).write(stat_ptr, _FDSTAT.pack(_CHARACTER_DEVICE, 0, rights, 0))
    return _SUCCESS


def fd_prestat_get(ctx: InvocationContext, caller: Caller, fd: int, prestat_ptr: int) -> int:
    return _BADF  # no pre-opened directories: libc stops scanning at the first EBADF


def fd_prestat_dir_name(ctx: InvocationContext, caller: Caller, fd: int, path_ptr: int, size: int) -> int:
    return _BADF


_SIGNATURES: dict[Callable[..., Any], tuple[tuple[wasmtime.ValType, ...], tuple[wasmtime.ValType, ...]]] = {
    args_get: ((I32, I32), (I32,)),
    args_sizes_get: ((I32, I32), (I32,)),
    environ_get: ((I32, I32), (I32,)),
    environ_sizes_get: ((I32, I32), (I32,)),
    clock_res_get: ((I32, I32), (I32,)),
    clock_time_get: ((I32, I64, I32), (I32,)),
    random_get: ((I32, I32), (I32,)),
    sched_yield: ((), (I32,)),
    proc_exit: ((I32,), ()),
    fd_write: ((I32, I32, I32, I32), (I32,)),
    fd_read: ((I32, I32, I32, I32), (I32,)),
    fd_close: ((I32,), (I32,)),
    fd_seek: ((I32, I64, I32, I32), (I32,)),
    fd_fdstat_get: ((I32, I32), (I32,)),
    fd_prestat_get: ((I32, I32), (I32,)),
    fd_prestat_dir_name: ((I32, I32, I32), (I32,)),
}

ALLOWED = frozenset(fn.__name__ for fn in _SIGNATURES)


def wasi_host_functions() -> list[HostFunction]:
    return [
        HostFunction(MODULE, fn.__name__, params, results, fn)
        for fn, (params, results) in _SIGNATURES.items()
    ]


def denied_stub(name: str, ty: wasmtime.FuncType) -> HostFunction:
    """A stand-in for a WASI function outside the whitelist, with whatever type the module declared."""

    def deny(ctx: InvocationContext, caller: Caller, *args: int) -> None:
        raise InvokeError("capability_denied", f"the guest called {MODULE}.{name}, which is not allowed")

    return HostFunction(MODULE, name, tuple(ty.params), tuple(ty.results), deny)
