"""A wasi:http component compiled and linked once, and its live instances serving requests.

The per-request path calls the `handle` export straight through the C API
(`wasmtime_component_func_call`), with the export looked up once per instance; the guest runs
with the GIL released (the epoch ticker must be able to interrupt it). The same guarantees hold
as for core modules (instance.py, module.py): the store's memory limit, an epoch deadline on
instantiation and on every call, traps answered 500 `trap`, and an instance that failed is
`broken` and destroyed, never reused.
"""

from __future__ import annotations

import sys
import threading
from ctypes import byref
from pathlib import Path
from time import monotonic, perf_counter

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime.component import Component
from wasmtime.component import Instance as _WasmInstance

from ..binary import MalformedBinary
from ..codec import TEXT_CODEC, check_response, decode_wire_request
from ..engine import arm_deadline, disarm_deadline, get_engine
from ..errors import InvokeError, ValidationError
from ..fastcall import context_address
from ..hostcalls import DEFAULT_LIMITS, InvocationContext, OutputLimits
from ..serialized import load_component
from ..trap_text import one_line
from ..types import FunctionSpec, GuestRequest, GuestResponse
from .detect import memory_minimums
from .linking import HANDLER_EXPORT, ComponentLinker
from .state import ComponentState, bind_state
from .values import write_handle
from .wasi_http import IncomingRequest, OutgoingResponse, ResponseOutparam

PAGE_SIZE = 65536
# A component is several core instances, memories and tables; each memory is capped at
# memory_pages (the store's memory_size limit applies per memory).
MAX_INSTANCES = 64
MAX_MEMORIES = 16
MAX_TABLES = 64
_MAX_TABLE_ELEMENTS = 100_000
# A component's guest calls the host a dozen times per request, each time taking the GIL back
# from the event loop (the guest runs with it released, so the epoch ticker can interrupt a
# runaway). Python hands the GIL over only every switch interval (5 ms by default): under load a
# request waited that long per host call. While a component runs, the process asks for 0.2 ms
# (bench/components.py: 0.3 -> 0.5 of ABI v1 hello's requests/s through a socket).
SWITCH_INTERVAL_S = 0.0002


class _ShortSwitchInterval:
    """Python's switch interval at SWITCH_INTERVAL_S while any component call runs in this
    process, and back to what it was once none does (it is process-wide: ABI v1 guests keep the
    default when no component is running)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = sys.getswitchinterval()

    def __enter__(self) -> None:
        with self._lock:
            if not self._running:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SWITCH_INTERVAL_S))
            self._running += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._running -= 1
            if not self._running:
                sys.setswitchinterval(self._saved)


_short_switches = _ShortSwitchInterval()


def compile_component(
    wasm: bytes, cache_path: Path | None = None, *, engine: wasmtime.Engine | None = None
) -> tuple[Component, bool]:
    """The compiled component (from the serialized cache at `cache_path` when it holds these
    bytes) and whether it came from there; ValidationError with wasmtime's first line otherwise.
    `engine` defaults to the runners' shared one."""
    try:
        return load_component(engine or get_engine(), wasm, cache_path)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValidationError(f"the component is not valid: {first}") from None


def handler_export(component: Component, engine: wasmtime.Engine) -> str | None:
    """The name of the component's `wasi:http/incoming-handler@0.2.x` export, if any."""
    for name in component.type.exports(engine):
        if HANDLER_EXPORT.fullmatch(name):
            return name
    return None


def _failure(ctx: InvokeError | None, message: str) -> InvokeError:
    if ctx is not None:
        return ctx
    if "interrupt" in message:
        return InvokeError("timeout", "the guest ran past its time limit")
    return InvokeError("trap", f"the guest trapped: {one_line(message)}")


def _incoming(request: GuestRequest | bytes) -> IncomingRequest:
    """The request as the guest will read it: bytes kept as bytes, field names lowercased."""
    if isinstance(request, bytes):
        method, uri, fields, body = decode_wire_request(request)
        headers = [(name.decode(*TEXT_CODEC).lower(), value) for name, value in fields]
        return IncomingRequest(method.decode(*TEXT_CODEC), uri.decode(*TEXT_CODEC), headers, body)
    headers = [(name.lower(), value.encode(*TEXT_CODEC)) for name, value in request.headers]
    return IncomingRequest(request.method, request.uri, headers, request.body)


class CompiledComponent:
    """The compiled component and its Linker; instantiated many times, from many threads."""

    def __init__(
        self,
        spec: FunctionSpec,
        component: Component,
        *,
        from_cache: bool,
        wasm: bytes,
        limits: OutputLimits = DEFAULT_LIMITS,
        engine: wasmtime.Engine | None = None,
    ) -> None:
        """`engine` is the one `component` was compiled with (the runners' shared one by default)."""
        engine = engine or get_engine()
        self.spec = spec
        self.from_cache = from_cache
        self.limits = limits
        self.component = component
        self.export = handler_export(component, engine)
        if self.export is None:
            raise ValidationError("the component must export wasi:http/incoming-handler at a 0.2.x version")
        try:
            memories = memory_minimums(wasm)
            # What its instances can grow to: the store caps each memory at memory_pages.
            self.reachable_bytes = len(memories) * spec.memory_pages * PAGE_SIZE
        except MalformedBinary as exc:
            raise ValidationError(f"the component is not valid: {exc}") from None
        self.linked = ComponentLinker(engine, component)

    @classmethod
    def load(
        cls,
        spec: FunctionSpec,
        wasm: bytes,
        *,
        cache_path: Path | None = None,
        limits: OutputLimits = DEFAULT_LIMITS,
    ) -> CompiledComponent:
        component, from_cache = compile_component(wasm, cache_path)
        return cls(spec, component, from_cache=from_cache, limits=limits, wasm=wasm)

    def _new_store(self) -> wasmtime.Store:
        store = wasmtime.Store(get_engine())
        store.set_limits(
            memory_size=self.spec.memory_pages * PAGE_SIZE,
            table_elements=_MAX_TABLE_ELEMENTS,
            instances=MAX_INSTANCES,
            tables=MAX_TABLES,
            memories=MAX_MEMORIES,
        )
        return store

    def instantiate(self, deadline_ms: int | None = None) -> ComponentInstance:
        """A fresh instance; its start-up code runs under the request time limit, or what is left of
        it (`deadline_ms`)."""
        ms = self.spec.max_execution_ms if deadline_ms is None else deadline_ms
        store = self._new_store()
        state = ComponentState(self.spec.memory_pages * PAGE_SIZE)
        ctx = InvocationContext(self.spec, "instantiate", monotonic() + ms / 1000)
        state.ctx = ctx
        bind_state(state)
        arm_deadline(context_address(store), ms)
        try:
            with _short_switches:
                instance = self.linked.linker.instantiate(store, self.component)
        except wasmtime.WasmtimeError as exc:
            store.close()
            message = str(exc)
            if ctx.failure is None and "interrupt" not in message and "wasm trap" not in message:
                error = InvokeError(
                    "instantiate_failed", f"the component could not be instantiated: {one_line(message)}"
                )
            else:
                error = _failure(ctx.failure, message)
            error.logs = ctx.flush_streams()
            raise error from None
        finally:
            disarm_deadline()
            bind_state(None)
            state.ctx = None
        return ComponentInstance(self, store, instance, state)


class ComponentInstance:
    """A hot instance; after any failure it is `broken` and must be closed, never reused."""

    def __init__(
        self, owner: CompiledComponent, store: wasmtime.Store, instance: _WasmInstance, state: ComponentState
    ) -> None:
        self.spec = owner.spec
        self.limits = owner.limits
        self._owner = owner  # its Linker's callbacks must outlive the instance
        self._store: wasmtime.Store | None = store
        self._state = state
        assert owner.export is not None
        index = instance.get_export_index(store, owner.export)
        func = instance.get_func(store, instance.get_export_index(store, "handle", index) or "handle")
        if func is None:
            raise InvokeError("instantiate_failed", f"the component's {owner.export} has no handle function")
        self._func = func._func
        self._params = (ffi.wasmtime_component_val_t * 2)()
        self.broken = False
        self.last_used = monotonic()

    def _call(self, state: ComponentState, request: IncomingRequest) -> None:
        store = self._store
        assert store is not None
        params = self._params
        context = store._context()
        address = context_address(store)
        for slot, handle in enumerate(
            (state.own(request, "incoming-request"), state.own(ResponseOutparam(), "response-outparam"))
        ):
            write_handle(address, handle, params[slot])
        try:
            error = ffi.wasmtime_component_func_call(byref(self._func), context, params, 2, None, 0)
            if not error:
                error = ffi.wasmtime_component_func_post_return(byref(self._func), context)
        finally:
            for slot in range(2):
                ffi.wasmtime_component_val_delete(byref(params[slot]))
        if error:
            message = str(wasmtime.WasmtimeError._from_ptr(error))
            ctx = state.ctx
            raise _failure(ctx.failure if ctx is not None else None, message)

    def invoke(
        self, request: GuestRequest | bytes, *, request_id: str, deadline_ms: int | None = None
    ) -> GuestResponse:
        """Runs one request: a `GuestRequest`, or one already in the wire format."""
        if self.broken or self._store is None:
            raise RuntimeError("this instance is broken or closed and must not be reused")
        ms = self.spec.max_execution_ms if deadline_ms is None else deadline_ms
        limits = self.limits
        ctx = InvocationContext(
            self.spec,
            request_id,
            monotonic() + ms / 1000,
            max_fetch_bytes=limits.fetch_bytes,
            max_log_bytes=limits.output_bytes,
        )
        incoming = _incoming(request)
        state = self._state
        state.ctx = ctx
        state.response = None
        bind_state(state)
        arm_deadline(context_address(self._store), ms)
        started = perf_counter()
        try:
            with _short_switches:
                self._call(state, incoming)
            status, headers, body = self._answer(state.response, limits.header_bytes)
        except InvokeError as exc:
            self.broken = True
            exc.logs = ctx.flush_streams()
            raise
        finally:
            cpu_seconds = max(0.0, perf_counter() - started - ctx.waited)
            disarm_deadline()
            bind_state(None)
            state.end_request()
            state.ctx = None
            state.response = None
            self.last_used = monotonic()
        return GuestResponse(status, headers, body, ctx.flush_streams(), cpu_seconds)

    @staticmethod
    def _answer(response: object, max_header_bytes: int) -> tuple[int, list[tuple[str, str]], bytes]:
        """The guest's response, checked by the same code as a core module's (codec.check_response)."""
        if response is None:
            raise InvokeError("bad_response", "the guest returned without setting its response-outparam")
        if not isinstance(response, OutgoingResponse):
            tag = getattr(response, "tag", response)
            raise InvokeError("bad_response", f"the guest answered with the error code {tag}")
        headers = [(name, value.decode(*TEXT_CODEC)) for name, value in response.headers.entries]
        check_response(response.status, headers, max_header_bytes)
        return response.status, headers, bytes(response.body.data)

    @property
    def live_resources(self) -> int:
        """Host resources the guest holds handles on between requests (at most MAX_LIVE_RESOURCES)."""
        return len(self._state.table)

    @property
    def memory_bytes(self) -> int:
        """The linear memory it can reach, in bytes: memory_pages for each of its memories.
        wasmtime shows the host none of a component's memories, so their size now cannot be read;
        charging their initial size let a guest that grows its memory on a hot instance hold far
        more than the pool counted against its project's share."""
        return self._owner.reachable_bytes if self._store is not None else 0

    def close(self) -> None:
        store, self._store = self._store, None
        self.broken = True
        if store is not None:
            store.close()
