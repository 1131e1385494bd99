"""Python guests: a folder of Python built into a wasi:http/proxy component by componentize-py.

`wasm =` names the app module (e.g. `functions/hello-py/app.py`); its folder is the Python path,
so the app may import its sibling modules and packages. The module defines a class
`IncomingHandler` with `handle(self, request, response_out)`: componentize-py's convention for
exporting `wasi:http/incoming-handler`, bound against the WIT world shipped in `edgehost/wit`.
componentize-py runs the module's top level at build time (pre-initialisation), bundles CPython
(about 18 MB) and takes 10-60 s, so builds are skipped while the component is newer than every
source.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
from pathlib import Path

from edgehost.toolchains.component import WIT_DIR, WORLD, build_if_stale, folder_sources
from edgehost.toolchains.process import GuestBuildError, run_build

# Names the bindings take: an app module so named would shadow them inside the component.
RESERVED_MODULES = frozenset({"wit_world", "componentize_py_types", "componentize_py_runtime", "poll_loop"})
TOOL = "componentize-py"
_SKIPPED_DIRS = ("__pycache__", ".venv", "venv", ".git")


def sources(app: Path) -> list[Path]:
    """Files whose change should rebuild the component of `app`: every .py file in its folder
    (recursively, without caches and virtual environments), then the WIT world."""
    return folder_sources(app, (".py",), _SKIPPED_DIRS)


def toolchain_version() -> str | None:
    """The installed componentize-py's version, or None when it is not installed."""
    if importlib.util.find_spec("componentize_py") is None:
        return None
    return importlib.metadata.version(TOOL)


def build(app: Path, output: Path | None = None) -> Path:
    """Builds the component of the Python app module `app` into `output` (default: `app` with
    .wasm) and returns that path.

    Skipped while the output is newer than every file of sources(); the output is replaced
    atomically. Raises GuestBuildError naming the first error when componentize-py is not
    installed, the module's name would shadow the bindings, or the build fails (a syntax error,
    an import that fails at pre-initialisation, no IncomingHandler class).
    """
    app = Path(app)
    if app.stem in RESERVED_MODULES or not app.stem.isidentifier():
        raise GuestBuildError(
            f"{app}: a Python guest's module name must be an identifier other than "
            f"{', '.join(sorted(RESERVED_MODULES))}"
        )
    return build_if_stale(app, output, sources(app), "Python", lambda tmp: _componentize(app, tmp))


def _componentize(app: Path, tmp: Path) -> None:
    if toolchain_version() is None:
        raise GuestBuildError(f"building Python guests needs {TOOL}: pip install 'edgefn[guests]'")
    cmd = [
        sys.executable,
        "-c",
        "import sys, componentize_py; sys.exit(componentize_py.script())",
        "-d",
        str(WIT_DIR),
        "-w",
        WORLD,
        "--quiet",
        "componentize",
        "-p",
        str(app.parent),
        "-o",
        str(tmp),
        app.stem,
    ]
    # No Rust backtrace: the error is the guest's, not the tool's.
    env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
    run_build(
        cmd,
        doing=f"building {app} with {TOOL}",
        slow_notice=f"still building {app}: {TOOL} bundles CPython into the component (10 s to a minute)",
        env=env,
        explain=lambda stderr: _first_cause(stderr, app),
    )


def _first_cause(stderr: str, app: Path) -> str:
    """componentize-py's reason as one line (" " + reason): the last line of its error chain,
    the root cause (a SyntaxError, or what the module raised at pre-initialisation, such as an
    ImportError), with the guest's innermost traceback frame as `(at FILE, line N)`."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if "Stack backtrace:" in lines:
        lines = lines[: lines.index("Stack backtrace:")]
    if not lines:
        return " (no reason given)"
    reason = lines[-1]
    # Inside the tool, the app's folder is mounted at /0.
    frames = re.findall(r'File "/0/([^"]+)", line (\d+)', "\n".join(lines))
    if frames and ", line " not in reason:
        reason += f" (at {app.parent / frames[-1][0]}, line {frames[-1][1]})"
    return " " + reason
