"""wasi:cli 0.2 for a request handler: the function's environment (`env` and its secrets), no
arguments, an empty stdin, stdout and stderr into the invocation's log (bounded like a core
module's, `InvocationContext.write_stream`), no terminals, and `exit` as a failed invocation.
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import Variant

from ..errors import InvokeError
from .state import ComponentState, Handler
from .values import NONE
from .wasi_io import InputStream, OutputStream


def _environment(state: ComponentState) -> list[tuple[str, str]]:
    return sorted(state.invocation().spec.env.items())


def _arguments(state: ComponentState) -> list[str]:
    return []


def _initial_cwd(state: ComponentState) -> Variant:
    return NONE


def _exit(state: ComponentState, status: Variant) -> None:
    raise InvokeError("trap", f"the guest called wasi:cli/exit ({status.tag}) instead of answering")


def _stream(source: str) -> Any:
    def get(state: ComponentState) -> Any:
        def sink(data: bytes) -> None:
            ctx = state.invocation()
            ctx.write_stream(source, data[: ctx.log_room()], len(data))

        return state.own(OutputStream(sink), "output-stream", lasting=True)

    return get


def _stdin(state: ComponentState) -> Any:
    return state.own(InputStream(b""), "input-stream", lasting=True)


def _no_terminal(state: ComponentState) -> Variant:
    return NONE


ENVIRONMENT: dict[str, Handler] = {
    "get-environment": _environment,
    "get-arguments": _arguments,
    "initial-cwd": _initial_cwd,
}
EXIT: dict[str, Handler] = {"exit": _exit}
STDIN: dict[str, Handler] = {"get-stdin": _stdin}
STDOUT: dict[str, Handler] = {"get-stdout": _stream("stdout")}
STDERR: dict[str, Handler] = {"get-stderr": _stream("stderr")}
TERMINAL_STDIN: dict[str, Handler] = {"get-terminal-stdin": _no_terminal}
TERMINAL_STDOUT: dict[str, Handler] = {"get-terminal-stdout": _no_terminal}
TERMINAL_STDERR: dict[str, Handler] = {"get-terminal-stderr": _no_terminal}
