"""Turn guest sources (.wat, .c, .py, .js, .wasm) into module or component bytes.

Developers point edgefn.toml at sources, not only at prebuilt .wasm, so the dev
loop needs one place that knows how to compile each kind and when a cached
build is stale. C is compiled with zig's bundled clang and wasi-libc (the
`ziglang` PyPI package), so no system toolchain is required; Python and
JavaScript are built into wasi:http components by componentize-py and
componentize-js (edgehost.toolchains).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import wasmtime

from edgehost.files import atomic_path
from edgehost.toolchains import javascript, python
from edgehost.toolchains.process import GuestBuildError, is_fresh, run_build

# The C SDK ships inside the package (the repo's `functions/sdk/`, linked as `edgehost/sdk`), so an
# installed edgefn builds C guests in any project folder.
SDK_DIR = Path(__file__).resolve().parent / "sdk"
SDK_HEADER = SDK_DIR / "edgefn.h"

# A WASI reactor with a 64 KiB stack (zig's default is 1 MiB). No
# --initial-memory: wasm-ld then sizes it to stack + data (2 pages for the
# examples). zig's malloc (std.heap.WasmAllocator) never uses the space between
# __heap_base and the initial size, it only memory.grows, so a 16-page initial
# memory would leave nothing to allocate under `memory_pages = 16`.
# `-s` drops debug info, which is most of an unstripped module's size.
C_FLAGS: tuple[str, ...] = (
    "--target=wasm32-wasi",
    "-O2",
    "-s",
    "-mexec-model=reactor",
    "-Wl,-z,stack-size=65536",
)


class ComponentToolchain(NamedTuple):
    """How sources of one language become a wasi:http component."""

    sources: Callable[[Path], list[Path]]  # the files a build reads, the entry first
    build: Callable[[Path, Path | None], Path]  # (entry, output or None for beside it) -> output


# Sources built into wasi:http/proxy components, by suffix.
COMPONENT_TOOLCHAINS = {
    ".py": ComponentToolchain(python.sources, python.build),
    ".js": ComponentToolchain(javascript.sources, javascript.build),
    ".mjs": ComponentToolchain(javascript.sources, javascript.build),
}
# Each kind of source `wasm =` may name, and the same in words for errors.
SOURCE_SUFFIXES = (".wasm", ".wat", ".c", *COMPONENT_TOOLCHAINS)
SOURCE_KINDS = ", ".join(SOURCE_SUFFIXES[:-1]) + f" or {SOURCE_SUFFIXES[-1]}"


def guest_sources(path: Path) -> list[Path]:
    """Files whose change should trigger a rebuild of the guest at `path`."""
    toolchain = COMPONENT_TOOLCHAINS.get(path.suffix.lower())
    if toolchain is not None:
        return toolchain.sources(path)
    if path.suffix != ".c":
        return [path]
    siblings = sorted(p for p in path.parent.iterdir() if p.suffix in (".c", ".h") and p != path)
    sources = [path, *siblings]
    if SDK_HEADER.exists():
        sources.append(SDK_HEADER)
    return sources


def build_c(source: Path, output: Path | None = None, *, extra_flags: Sequence[str] = ()) -> Path:
    """Compiles a C guest to `output` (default `<source>.wasm` beside it) and returns that path.

    The build is skipped when the output is newer than every file of guest_sources();
    `extra_flags` are not part of that check. The output is replaced atomically so
    concurrent builders never see a half-written module.
    """
    source = Path(source)
    output = Path(output) if output is not None else source.with_suffix(".wasm")
    if not source.is_file():
        raise GuestBuildError(f"C source {source} does not exist")
    if is_fresh(output, guest_sources(source)):
        return output
    if importlib.util.find_spec("ziglang") is None:
        raise GuestBuildError("building C guests needs the 'ziglang' package: pip install 'edgefn[guests]'")

    with atomic_path(output, durable=False, suffix=".wasm") as tmp:  # a build output: rebuilt if lost
        _compile(source, tmp, extra_flags)
    return output


def _compile(source: Path, tmp: Path, extra_flags: Sequence[str]) -> None:
    cmd = [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        *C_FLAGS,
        f"-I{SDK_DIR}",
        *extra_flags,
        str(source),
        "-o",
        str(tmp),
    ]
    # zig compiles wasi-libc into its global cache on a machine's first C build (about 40 s on
    # two cores, then a second or so per build).
    run_build(
        cmd,
        doing=f"compiling {source}",
        slow_notice=f"still compiling {source}: the first C build on a machine fills zig's cache "
        "with wasi-libc (about a minute, once)",
    )


def build_guest(source: Path, output: Path | None = None) -> Path:
    """Builds `source` (any of SOURCE_KINDS) into `output` (default: `source` with .wasm, which
    for a .wasm is itself) and returns that path; C and components are skipped while fresh."""
    source = Path(source)
    suffix = source.suffix.lower()
    if suffix == ".c":
        return build_c(source, output)
    if suffix in COMPONENT_TOOLCHAINS:
        return COMPONENT_TOOLCHAINS[suffix].build(source, output)
    data = load_guest_bytes(source)
    out = Path(output) if output is not None else source.with_suffix(".wasm")
    if out != source:
        out.write_bytes(data)
    return out


def load_guest_bytes(path: Path) -> bytes:
    """Returns the wasm bytes for a guest given as one of SOURCE_KINDS (built and cached)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SOURCE_SUFFIXES:
        raise GuestBuildError(f"{path} is not a guest source: expected a {SOURCE_KINDS} file")
    if suffix == ".c":
        return build_c(path).read_bytes()
    if suffix in COMPONENT_TOOLCHAINS:
        return COMPONENT_TOOLCHAINS[suffix].build(path, None).read_bytes()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GuestBuildError(f"cannot read guest {path}: {exc.strerror or exc}") from exc
    if suffix == ".wasm":
        return data
    try:
        return bytes(wasmtime.wat2wasm(data.decode("utf-8")))
    except (UnicodeDecodeError, wasmtime.WasmtimeError) as exc:
        raise GuestBuildError(f"{path} is not valid WAT: {exc}") from exc
