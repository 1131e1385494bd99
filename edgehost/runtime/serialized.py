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
from pathlib import Path

import wasmtime

from edgehost.files import write_atomic

_MAGIC = b"edgefn-cwasm-v1\n"
_HEADER = len(_MAGIC) + 64


def _read_cached(engine: wasmtime.Engine, path: Path, source_digest: bytes) -> wasmtime.Module | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body = data[_HEADER:]
    expected = _MAGIC + source_digest + hashlib.sha256(body).digest()
    if data[:_HEADER] != expected:
        return None
    try:
        return wasmtime.Module.deserialize(engine, body)
    except wasmtime.WasmtimeError:  # e.g. written by another wasmtime version or engine config
        return None


def load_module(
    engine: wasmtime.Engine, wasm: bytes, cache_path: Path | None
) -> tuple[wasmtime.Module, bool]:
    """Return the compiled module and whether it came from the cache."""
    if cache_path is None:
        return wasmtime.Module(engine, wasm), False
    source_digest = hashlib.sha256(wasm).digest()
    cached = _read_cached(engine, cache_path, source_digest)
    if cached is not None:
        return cached, True
    module = wasmtime.Module(engine, wasm)
    body = bytes(module.serialize())
    # Not durable: a file a power loss tears fails its header check and is compiled again.
    write_atomic(cache_path, _MAGIC + source_digest + hashlib.sha256(body).digest() + body, durable=False)
    return module, False
