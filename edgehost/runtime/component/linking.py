"""Which of a component's imports the runner provides, denies or refuses, and its Linker.

Imports are component instances named `namespace:package/interface@version`. A runner provides
the `wasi:http/proxy` world's interfaces (and what wasi-libc asks for at start-up) at any 0.2.x
version, registered under exactly the name the component imports: a function registered at
another version than the one imported links but fails when called. Filesystem and socket
interfaces, the client side of wasi:http while it is not provided, and functions of a provided
interface this host does not know are linked to stubs that fail the call with
`capability_denied`; any other import is refused at registration.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime.component import Component, ComponentInstanceType, FuncType, Linker, ResourceType

from . import wasi_cli, wasi_clocks, wasi_http, wasi_io, wasi_random
from .calls import Handler, denied, make_callback
from .handles import add_func
from .state import current_state, resource_type

_NAME = re.compile(r"(?P<interface>[a-z][a-z0-9-]*:[a-z][a-z0-9-]*/[a-z][a-z0-9-]*)@(?P<version>0\.2\.\d+)")
HANDLER_EXPORT = re.compile(r"wasi:http/incoming-handler@0\.2\.\d+")

PROVIDED: dict[str, dict[str, Handler]] = {
    "wasi:io/poll": wasi_io.POLL,
    "wasi:io/error": wasi_io.ERROR,
    "wasi:io/streams": wasi_io.STREAMS,
    "wasi:http/types": wasi_http.TYPES,
    "wasi:cli/environment": wasi_cli.ENVIRONMENT,
    "wasi:cli/exit": wasi_cli.EXIT,
    "wasi:cli/stdin": wasi_cli.STDIN,
    "wasi:cli/stdout": wasi_cli.STDOUT,
    "wasi:cli/stderr": wasi_cli.STDERR,
    "wasi:cli/terminal-input": {},
    "wasi:cli/terminal-output": {},
    "wasi:cli/terminal-stdin": wasi_cli.TERMINAL_STDIN,
    "wasi:cli/terminal-stdout": wasi_cli.TERMINAL_STDOUT,
    "wasi:cli/terminal-stderr": wasi_cli.TERMINAL_STDERR,
    "wasi:clocks/monotonic-clock": wasi_clocks.MONOTONIC_CLOCK,
    "wasi:clocks/wall-clock": wasi_clocks.WALL_CLOCK,
    "wasi:random/random": wasi_random.RANDOM,
    "wasi:random/insecure": wasi_random.INSECURE,
    "wasi:random/insecure-seed": wasi_random.INSECURE_SEED,
    "wasi:filesystem/preopens": {"get-directories": lambda state: []},  # no directories
}
DENIED = ("wasi:filesystem/types", "wasi:http/outgoing-handler")
_DENIED_PACKAGES = ("wasi:sockets/",)


def _interface(name: str) -> str | None:
    """`wasi:io/streams` for `wasi:io/streams@0.2.9`; None for a name outside 0.2.x."""
    match = _NAME.fullmatch(name)
    return match.group("interface") if match else None


def _is_denied(interface: str) -> bool:
    return interface in DENIED or interface.startswith(_DENIED_PACKAGES)


@dataclass(frozen=True)
class ImportPlan:
    """A component's imports by fate: `denied` names each stubbed interface or function
    (`interface@version#function`), `unsupported` each import a runner cannot link."""

    denied: tuple[str, ...]
    unsupported: tuple[str, ...]


def _functions(engine: wasmtime.Engine, ty: ComponentInstanceType) -> dict[str, Any]:
    return {name: item.ty for name, item in ty.exports(engine).items()}


def plan_imports(engine: wasmtime.Engine, component: Component) -> ImportPlan:
    denied_names: list[str] = []
    unsupported: list[str] = []
    for name, item in component.type.imports(engine).items():
        ty = item.ty
        interface = _interface(name)
        if interface is None or not isinstance(ty, ComponentInstanceType):
            unsupported.append(name)
        elif _is_denied(interface):
            denied_names.append(name)
        elif interface not in PROVIDED:
            unsupported.append(name)
        else:
            handlers = PROVIDED[interface]
            denied_names.extend(
                f"{name}#{func}"
                for func, func_ty in _functions(engine, ty).items()
                if isinstance(func_ty, FuncType) and func not in handlers
            )
    return ImportPlan(tuple(denied_names), tuple(unsupported))


def _drop(_store: Any, rep: int) -> None:
    """The guest dropped a host resource's last handle."""
    state = current_state()
    if state is not None:
        state.drop(rep)


class ComponentLinker:
    """A Linker defining every import a component plans to use, plus the callbacks it points at,
    which must outlive every instance. Imports no plan covers link as traps (validation refuses
    such components first)."""

    def __init__(self, engine: wasmtime.Engine, component: Component) -> None:
        self.linker = Linker(engine)
        self._callbacks: list[Any] = []
        with self.linker.root() as root:
            for name, item in component.type.imports(engine).items():
                interface = _interface(name)
                if interface is None or not isinstance(item.ty, ComponentInstanceType):
                    continue
                if not _is_denied(interface) and interface not in PROVIDED:
                    continue
                handlers = {} if _is_denied(interface) else PROVIDED[interface]
                with root.add_instance(name) as instance:
                    for member, ty in _functions(engine, item.ty).items():
                        if isinstance(ty, ResourceType):
                            instance.add_resource(member, resource_type(member), _drop)
                        elif isinstance(ty, FuncType):
                            qualname = f"{name}#{member}"
                            handler = handlers.get(member) or denied(qualname)
                            self._define(instance, member, make_callback(qualname, handler, ty))
        self.linker.define_unknown_imports_as_traps(component)

    def _define(self, instance: Any, name: str, callback: Any) -> None:
        self._callbacks.append(callback)
        raw = name.encode()
        address = ctypes.cast(instance.ptr(), ctypes.c_void_p).value
        error = add_func(address, raw, len(raw), ctypes.cast(callback, ctypes.c_void_p), None, None)
        if error:
            pointer = ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
            raise wasmtime.WasmtimeError._from_ptr(pointer)
