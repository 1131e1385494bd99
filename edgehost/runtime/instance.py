"""One live guest instance serving requests, one at a time."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any

import wasmtime

from .codec import FieldsMemo, decode_response, encode_request
from .engine import arm_deadline, disarm_deadline
from .errors import InvokeError
from .fastcall import Exports, GuestMemory, OutOfBounds, RawFunc, context_address
from .hostcalls import InvocationContext, OutputLimits, bind_context
from .types import FunctionSpec, GuestRequest, GuestResponse

_U32_MASK = 0xFFFFFFFF
_U64_MASK = 0xFFFFFFFFFFFFFFFF


def _required(lookup: Callable[[str], Any], name: str) -> Any:
    item = lookup(name)
    if item is None:
        raise LookupError(f"the module does not export {name}")
    return item


class Instance:
    """A hot instance; after any failure it is `broken` and must be closed, never reused."""

    def __init__(
        self,
        spec: FunctionSpec,
        store: wasmtime.Store,
        instance: wasmtime.Instance,
        *,
        limits: OutputLimits,
        owner: object,
        fields: FieldsMemo | None = None,
        calls_host: bool = True,
    ) -> None:
        """`owner` (the compiled function) is held so its host-function callbacks outlive the
        instance; it is taken as a plain object so this module does not import the one that
        creates instances. `fields` is the response fields memo the function's instances share
        (their own when None); `calls_host` is False for a module that imports nothing, whose
        calls need no `InvocationContext`."""
        self.spec = spec
        self.limits = limits
        self._owner = owner
        self._store: wasmtime.Store | None = store
        self._context = context_address(store)
        exports = Exports(self._context, instance)
        self._memory = GuestMemory(self._context, _required(exports.memory, "memory"))
        self._alloc = RawFunc(self._context, _required(exports.func, "edgefn_alloc"), 1)
        self._entry = RawFunc(self._context, _required(exports.func, spec.entrypoint), 2)
        free = exports.func("edgefn_free")
        self._free = RawFunc(self._context, free, 2) if free is not None else None
        self._fields = FieldsMemo() if fields is None else fields
        self.calls_host = calls_host
        self.broken = False
        self.last_used = monotonic()

    def _exchange(self, payload: bytes) -> bytes:
        alloc = self._alloc
        alloc.vals[0].i32 = len(payload)
        alloc.call()
        ptr = alloc.vals[0].i32 & _U32_MASK
        if ptr == 0:
            raise InvokeError("trap", f"edgefn_alloc({len(payload)}) returned 0: the guest is out of memory")
        try:
            self._memory.write(ptr, payload)
        except OutOfBounds as exc:
            raise InvokeError("bad_response", f"edgefn_alloc returned an unusable buffer: {exc}") from None
        entry = self._entry
        vals = entry.vals
        vals[0].i32 = ptr
        vals[1].i32 = len(payload)
        entry.call()
        packed = vals[0].i64 & _U64_MASK
        resp_ptr, resp_len = packed >> 32, packed & _U32_MASK
        try:
            data = self._memory.read(resp_ptr, resp_len)
        except OutOfBounds as exc:
            raise InvokeError("bad_response", f"the response buffer is invalid: {exc}") from None
        if self._free is not None:
            self._free.vals[0].i32 = resp_ptr
            self._free.vals[1].i32 = resp_len
            self._free.call()
        return data

    def invoke(
        self, request: GuestRequest | bytes, *, request_id: str, deadline_ms: int | None = None
    ) -> GuestResponse:
        """Runs one request: a `GuestRequest`, or one already in the wire format."""
        if self.broken or self._store is None:
            raise RuntimeError("this instance is broken or closed and must not be reused")
        ms = self.spec.max_execution_ms if deadline_ms is None else deadline_ms
        limits = self.limits
        # A module that imports nothing can call no host function: nothing would read a context.
        ctx = (
            InvocationContext(
                self.spec,
                request_id,
                monotonic() + ms / 1000,
                max_fetch_bytes=limits.fetch_bytes,
                max_log_bytes=limits.output_bytes,
            )
            if self.calls_host
            else None
        )
        payload = request if isinstance(request, bytes) else encode_request(request)
        if ctx is not None:
            bind_context(ctx)
        arm_deadline(self._context, ms)
        started = monotonic()
        try:
            data = self._exchange(payload)
        except InvokeError as exc:
            self.broken = True
            if ctx is None:
                raise
            error = ctx.failure or exc
            error.logs = ctx.flush_streams()
            raise error from None
        finally:
            # The guest holds this thread for the whole call, so its wall time is its CPU time, less
            # what host functions spent waiting (http_fetch). One vDSO read instead of two syscalls,
            # and the same one says when the instance was last used.
            self.last_used = ended = monotonic()
            cpu_seconds = ended - started
            disarm_deadline()
            if ctx is not None:
                cpu_seconds = max(0.0, cpu_seconds - ctx.waited)
                bind_context(None)
        try:
            status, headers, body = decode_response(data, limits.header_bytes, self._fields)
        except InvokeError as exc:
            self.broken = True
            exc.logs = ctx.flush_streams() if ctx is not None else []
            raise
        return GuestResponse(
            status, headers, body, ctx.flush_streams() if ctx is not None else [], cpu_seconds
        )

    @property
    def memory_bytes(self) -> int:
        """Its linear memory's size now, in bytes: the initial pages plus any `memory.grow`."""
        return self._memory.size() if self._store is not None else 0

    def close(self) -> None:
        store, self._store = self._store, None
        self.broken = True
        if store is not None:
            store.close()
