"""wasmtime's trap text made into one line that keeps its cause.

wasmtime describes a trap as

    error while executing at wasm backtrace:
        0:     0x2c - <unknown>!inner
        1:     0x30 - <unknown>!outer

    Caused by:
        wasm trap: wasm `unreachable` instruction executed

(or, for a trap with no guest frames such as a data segment out of bounds at instantiation,
just the reason). Its first line says nothing; the reason and the innermost frames are what a
developer needs, and they go into the answer's `detail` and the invocation log as one line.
"""

from __future__ import annotations

import re

TOP_FRAMES = 3  # innermost frames kept; a stack overflow has thousands
_FRAME = re.compile(r"^\s*\d+:\s+(0x[0-9a-f]+) - (?:[^!\s]*!)?(.+?)\s*$")
_HEADER = "error while executing at wasm backtrace:"
_CAUSE = "Caused by:"
_NUMBERED = re.compile(r"^\d+:\s+")  # a chain of causes, outermost first: `0: context`, `1: root`


def one_line(message: str) -> str:
    """`reason (backtrace: fn @0xOFF, ...)`: the trap's reason, then up to TOP_FRAMES frames
    innermost first (function name, or `<wasm function N>`, and code offset in the module)."""
    head, _, cause = message.partition(_CAUSE)
    lines = [line.strip() for line in (cause or head).splitlines()]
    causes = [line for line in lines if line and line != _HEADER and not _FRAME.match(line)]
    if causes and all(_NUMBERED.match(line) for line in causes):
        causes = [_NUMBERED.sub("", line) for line in reversed(causes)]  # the root cause first
    reason = "; ".join(causes)
    frames = [m.groups() for m in map(_FRAME.match, head.splitlines()) if m]
    text = reason or "unknown reason"
    if frames:
        shown = ", ".join(f"{name} @{offset}" for offset, name in frames[:TOP_FRAMES])
        more = f", ... {len(frames) - TOP_FRAMES} more" if len(frames) > TOP_FRAMES else ""
        text += f" (backtrace: {shown}{more})"
    return text
