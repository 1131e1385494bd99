"""Start-up proof that the fast path (`fastcall`) agrees with wasmtime-py's own calls.

`fastcall` reaches past wasmtime-py's public API: private names (`_ffi`, `_context`, `_instance`)
and C signatures declared by hand. A wasmtime-py release that changes either would not fail
loudly: it would pass wrong arguments, read wrong results or crash inside a request. So before a
runner serves, a tiny known module is called both ways, through `Func.__call__` and through
`RawFunc`/`GuestMemory`, and any difference refuses the start (`FastPathMismatch`).
"""

from __future__ import annotations

from importlib.metadata import version

import wasmtime

from .engine import get_engine
from .errors import InvokeError
from .fastcall import Exports, GuestMemory, RawFunc, context_address, set_epoch_deadline

# `mix` covers i32 and i64 arguments and an i64 result (the ABI's packed pointer and length);
# `put` a write the memory view must see; `boom` a trap the fast path must report as one.
_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "mix") (param i32 i64) (result i64)
    (i64.add (i64.mul (i64.extend_i32_u (local.get 0)) (i64.const 1000003)) (local.get 1)))
  (func (export "put") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "boom") unreachable))
"""
_MIX_ARGS = ((0, 0), (7, -1), (-1, 2**62), (123456, -(2**63)))  # i32s signed, as both sides take them
_PUT = (1024, 0x0A0B0C0D)
_WASMTIME = version("wasmtime")
_FAR_DEADLINE = 1 << 32  # epochs ahead: the check runs no ticker and must not time out


class FastPathMismatch(RuntimeError):
    """The installed wasmtime-py does not behave as `fastcall` assumes; the message says how."""


def _expect(what: str, fast: object, slow: object) -> None:
    if fast != slow:
        raise FastPathMismatch(
            f"the fast call path disagrees with wasmtime {_WASMTIME}'s Func.__call__ on {what} "
            f"({fast!r} != {slow!r}); reinstall edgefn to get the wasmtime version it pins"
        )


def check_fast_path() -> None:
    """Calls the known module both ways; raises FastPathMismatch on the first difference.

    Any exception the fast path raises other than the trap `boom` must cause (a missing symbol,
    a changed private name) is a mismatch too.
    """
    try:
        _compare()
    except FastPathMismatch:
        raise
    except Exception as exc:
        raise FastPathMismatch(
            f"the fast call path fails with wasmtime {_WASMTIME} "
            f"({type(exc).__name__}: {exc}); reinstall edgefn to get the wasmtime version it pins"
        ) from None


def _compare() -> None:
    store = wasmtime.Store(get_engine())
    try:
        context = context_address(store)
        set_epoch_deadline(context, _FAR_DEADLINE)
        instance = wasmtime.Instance(store, wasmtime.Module(store.engine, _WAT), [])
        exports = Exports(context, instance)
        slow = instance.exports(store)

        mix = RawFunc(context, exports.func("mix"), 2)
        mix_slow = slow["mix"]
        assert isinstance(mix_slow, wasmtime.Func)
        for a, b in _MIX_ARGS:
            mix.vals[0].i32, mix.vals[1].i64 = a, b
            mix.call()
            _expect(f"mix({a}, {b})", mix.vals[0].i64, mix_slow(store, a, b))

        ptr, value = _PUT
        put = RawFunc(context, exports.func("put"), 2)
        put.vals[0].i32, put.vals[1].i32 = ptr, value
        put.call()
        memory_slow = slow["memory"]
        assert isinstance(memory_slow, wasmtime.Memory)
        fast_bytes = GuestMemory(context, exports.memory("memory")).read(ptr, 4)
        _expect("a memory read", fast_bytes, bytes(memory_slow.read(store, ptr, ptr + 4)))

        boom_slow = slow["boom"]
        assert isinstance(boom_slow, wasmtime.Func)
        slow_outcome = fast_outcome = "returned"
        try:
            boom_slow(store)
        except wasmtime.Trap:
            slow_outcome = "trap"
        try:
            RawFunc(context, exports.func("boom"), 0).call()
        except InvokeError as exc:
            fast_outcome = exc.code
        _expect("a trap", fast_outcome, slow_outcome)
    finally:
        store.close()
