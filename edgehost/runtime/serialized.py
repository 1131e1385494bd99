"""Compiled modules serialized next to their artifact (wasmtime's `Module.serialize`), so a restart
or an ingress worker maps native code instead of compiling again. (Not the artifact cache, which
is the caching plugin's: this module only decides whether a `.cwasm` file may be trusted.)

A serialized module is native code that wasmtime maps and runs without
verification, so a file is only used when its header names the SHA-256 of
the exact source and of the artifact bytes themselves; anything else is
recompiled and rewritten atomically. (The directory must still be writable by
the runner alone: a digest cannot stop someone who can also rewrite it.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import wasmtime
from wasmtime.component import Component

from edgehost.files import write_atomic

_MAGIC = b"edgefn-cwasm-v1\n"
_HEADER = len(_MAGIC) + 64


class _Compiled(Protocol):
    def serialize(self) -> bytearray: ...


C = TypeVar("C", bound=_Compiled)


def _read_cached(
    deserialize: Callable[[wasmtime.Engine, bytes], C],
    engine: wasmtime.Engine,
    path: Path,
    source_digest: bytes,
) -> C | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body = data[_HEADER:]
    expected = _MAGIC + source_digest + hashlib.sha256(body).digest()
    if data[:_HEADER] != expected:
        return None
    try:
        return deserialize(engine, body)
    except wasmtime.WasmtimeError:  # e.g. written by another wasmtime version or engine config
        return None


def _load(
    compile: Callable[[wasmtime.Engine, bytes], C],
    deserialize: Callable[[wasmtime.Engine, bytes], C],
    engine: wasmtime.Engine,
    wasm: bytes,
    cache_path: Path | None,
) -> tuple[C, bool]:
    if cache_path is None:
        return compile(engine, wasm), False
    source_digest = hashlib.sha256(wasm).digest()
    cached = _read_cached(deserialize, engine, cache_path, source_digest)
    if cached is not None:
        return cached, True
    module = compile(engine, wasm)
    body = bytes(module.serialize())
    # Not durable: a file a power loss tears fails its header check and is compiled again.
    write_atomic(cache_path, _MAGIC + source_digest + hashlib.sha256(body).digest() + body, durable=False)
    return module, False


def load_module(
    engine: wasmtime.Engine, wasm: bytes, cache_path: Path | None
) -> tuple[wasmtime.Module, bool]:
    """Return the compiled module and whether it came from the cache."""
    return _load(wasmtime.Module, wasmtime.Module.deserialize, engine, wasm, cache_path)


def load_component(engine: wasmtime.Engine, wasm: bytes, cache_path: Path | None) -> tuple[Component, bool]:
    """Return the compiled component and whether it came from the cache (compiling a large one,
    CPython inside, takes half a minute; deserializing it, milliseconds)."""
    return _load(Component, Component.deserialize, engine, wasm, cache_path)
