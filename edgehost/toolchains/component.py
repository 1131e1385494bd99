"""What the component toolchains share: the WIT world they build against, which files of a
guest's folder are its sources, and building only when the output is stale."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from edgehost.files import atomic_path
from edgehost.toolchains.process import GuestBuildError, is_fresh

# edgefn's world (wasi:http/proxy 0.2.3 and wasi:cli/environment) and the WASI packages it uses.
WIT_DIR = Path(__file__).resolve().parent.parent / "wit"
WORLD = "edgefn:guest/http"


def folder_sources(entry: Path, suffixes: Collection[str], skipped_dirs: Collection[str]) -> list[Path]:
    """`entry`, then every other file with one of `suffixes` in its folder (recursively, not
    inside a folder named in `skipped_dirs`), then the WIT files: what a build reads."""
    folder = entry.parent
    found = [
        path
        for path in sorted(folder.rglob("*"))
        if path.suffix in suffixes
        and path != entry
        and not set(skipped_dirs).intersection(path.relative_to(folder).parts[:-1])
    ]
    return [entry, *found, *sorted(WIT_DIR.rglob("*.wit"))]


def build_if_stale(
    entry: Path,
    output: Path | None,
    sources: list[Path],
    language: str,
    compile_into: Callable[[Path], None],
) -> Path:
    """Runs `compile_into(tmp)` to build `entry` into `output` (default: `entry` with .wasm)
    unless the output is newer than every file of `sources`; returns the output's path.

    The output is replaced atomically, so a concurrent reader never sees half a component.
    Raises GuestBuildError if `entry` does not exist, or whatever `compile_into` raises.
    """
    output = Path(output) if output is not None else entry.with_suffix(".wasm")
    if not entry.is_file():
        raise GuestBuildError(f"{language} source {entry} does not exist")
    if is_fresh(output, sources):
        return output
    with atomic_path(output, durable=False, suffix=".wasm") as tmp:  # a build output: rebuilt if lost
        compile_into(tmp)
    return output
