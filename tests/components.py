"""wasi:http components for tests, built from the sources under tests/guests/components/.

A componentize-py build takes 10-60 s and bundles CPython (about 18 MB), a componentize-js one
15-40 s, so each component is built at most once per session and kept across runs in a cache
folder keyed by a hash of its sources, the WIT world and the toolchain's version: an unchanged
guest is never rebuilt, a changed one (or a new toolchain) is, and builds of the same guest
unused for a week are removed then. The cache is $EDGEFN_TEST_CACHE, else
$XDG_CACHE_HOME/edgefn-tests, else ~/.cache/edgefn-tests; deleting it only costs time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import time
from pathlib import Path
from types import ModuleType

import pytest

from edgehost.guestbuild import GuestBuildError
from edgehost.toolchains import javascript, python

UNUSED_FOR_S = 7 * 24 * 3600  # a cached build not used for this long is removed on the next build
COMPONENTS = Path(__file__).resolve().parent / "guests" / "components"
ECHO_PY = COMPONENTS / "echo_py"  # the Python echo guest: its docstring lists what its query does
ECHO_JS = COMPONENTS / "echo_js"  # the JavaScript one (fewer cases: its comment lists them)


def cache_dir() -> Path:
    """Where built test components are kept between runs."""
    explicit = os.environ.get("EDGEFN_TEST_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgefn-tests"


def sources_hash(app: Path, toolchain: str, tool: ModuleType = python) -> str:
    """A hash of everything the component of `app` is built from: each source's path (relative
    to the app's folder, or the WIT folder) and bytes as `tool` (a toolchain module of
    edgehost.toolchains) lists them, and `toolchain` (its name and version)."""
    digest = hashlib.sha256(toolchain.encode())
    for source in tool.sources(app):
        base = tool.WIT_DIR if source.is_relative_to(tool.WIT_DIR) else app.parent
        digest.update(b"\0" + str(source.relative_to(base)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:24]


TOOLCHAINS: dict[str, ModuleType] = {".py": python, ".js": javascript, ".mjs": javascript}


def python_component(source_dir: Path) -> Path:
    """The component of the Python guest in `source_dir` (its module is app.py), built with
    componentize-py unless the cache holds one from the same sources and toolchain version.

    Fails the calling test (no traceback) if componentize-py is missing or the guest does not build.
    """
    return component(source_dir / "app.py")


def js_component(source_dir: Path) -> Path:
    """The component of the JavaScript guest in `source_dir` (its module is app.js), built with
    componentize-js (installed from npm on a machine's first build), cached like python_component."""
    return component(source_dir / "app.js")


def prebuild(entry: Path) -> Path:
    """Puts the component of the guest source `entry` beside it as `edgefn build` would (same
    name, .wasm), from the cache: `edgefn build` and `edgefn dev` then find it fresh and check
    and serve it without spending a build. For tests of what surrounds the build (templates,
    projects), not of the build itself."""
    out = entry.with_suffix(".wasm")
    shutil.copyfile(component(entry), out)  # written now: newer than every source
    return out


@functools.cache
def component(app: Path) -> Path:
    """The component of the Python or JavaScript source `app`, built by its toolchain unless
    the cache holds one from the same sources and toolchain version."""
    tool = TOOLCHAINS[app.suffix]
    version = tool.toolchain_version()
    if version is None:
        pytest.fail(f"{tool.TOOL} cannot run here: pip install -e '.[test]'", pytrace=False)
    key = sources_hash(app, f"{tool.TOOL} {version}", tool)
    built = cache_dir() / "components" / f"{app.parent.name}-{key}.wasm"
    if built.is_file():
        os.utime(built)  # used: its age is the time since its last use
        return built
    built.parent.mkdir(parents=True, exist_ok=True)
    try:
        tool.build(app, built)
    except GuestBuildError as exc:
        pytest.fail(f"test guest {app.parent.name} does not build: {exc}", pytrace=False)
    for old in built.parent.glob(f"{app.parent.name}-*.wasm"):
        with contextlib.suppress(OSError):  # another run may remove it first
            if old != built and time.time() - old.stat().st_mtime > UNUSED_FOR_S:
                old.unlink()
    return built
