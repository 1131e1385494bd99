"""wasi:http test components, built from the WAT in tests/guests/components by wasm-tools
(`component embed` with the world in wit/guests.wit, then `component new`), cached by content."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "tests" / "guests" / "components"
WASM_TOOLS = str(Path(sys.executable).with_name("wasm-tools"))
WORLDS = {
    "minimal": "minimal",
    "echo": "echo",
    "nope": "nope-world",
    "types": "types",
    "start_loop": "minimal",
    "hostile": "minimal",
}
_CACHE = Path(tempfile.gettempdir()) / "edgefn-test-components"
_MEMORY = re.compile(r'\(memory \(export "memory"\) \d+\)')


def build_component(
    name: str, *, memory_pages: int | None = None, replace: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The component built from `{name}.wat`; `memory_pages` replaces its memory's initial size,
    each (old, new) of `replace` a piece of its text (which must be there): a variant of a guest.
    `types` has no WAT: wasm-tools generates a core module importing all of its world."""
    text = "" if name == "types" else (SOURCES / f"{name}.wat").read_text()
    if memory_pages is not None:
        text = _MEMORY.sub(f'(memory (export "memory") {memory_pages})', text)
    for old, new in replace:
        assert old in text, f"{name}.wat has no {old!r}"
        text = text.replace(old, new)
    wit = sorted((SOURCES / "wit").rglob("*.wit"))
    digest = hashlib.sha256(text.encode() + b"".join(path.read_bytes() for path in wit)).hexdigest()[:16]
    out = _CACHE / f"{name}-{digest}.wasm"
    if not out.exists():
        _CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            source, core = Path(work) / f"{name}.wat", Path(work) / "core.wasm"
            source.write_text(text)
            world = WORLDS[name]
            run = [WASM_TOOLS, "component"]
            inputs = ["--dummy"] if name == "types" else [str(source)]
            embed = [*run, "embed", str(SOURCES / "wit"), "--world", world, *inputs, "-o", str(core)]
            subprocess.run(embed, check=True)
            subprocess.run([*run, "new", str(core), "-o", str(Path(work) / "out.wasm")], check=True)
            (Path(work) / "out.wasm").replace(out)
    return out.read_bytes()
