"""Running a guest toolchain as a child process: one place for the timeout, the notice a slow
build gives, the freshness check and the error a failed build becomes (its diagnostics, bounded,
never a traceback of ours)."""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

BUILD_TIMEOUT_S = 600
# A build still running after this long says why once, so the person waiting knows the wait is
# expected (zig filling its cache, componentize-py bundling CPython) and not every save.
SLOW_BUILD_NOTICE_S = 5.0
log = logging.getLogger("edgefn.build")
_STDERR_LINES = 20


class GuestBuildError(Exception):
    """A guest source could not be turned into a module or component; the message says why."""


def is_fresh(output: Path, sources: Sequence[Path]) -> bool:
    """True when `output` exists and is newer than every existing file of `sources`."""
    if not output.exists():
        return False
    built = output.stat().st_mtime_ns
    return all(src.stat().st_mtime_ns <= built for src in sources if src.exists())


def summarise(output: str) -> str:
    """Keeps the diagnostics a developer needs, on the lines after the failure's: error lines
    first, then context, bounded."""
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    shown = (errors or lines)[:_STDERR_LINES]
    more = len(errors or lines) - len(shown)
    return "".join(f"\n{line}" for line in shown) + (f"\n... ({more} more lines)" if more > 0 else "")


@contextmanager
def notice_if_slow(message: str) -> Iterator[None]:
    """Logs `message` (a warning of edgefn.build) once if the block still runs after
    SLOW_BUILD_NOTICE_S: a step of a build or check that can take seconds says what it is doing."""
    notice = threading.Timer(SLOW_BUILD_NOTICE_S, log.warning, (message,))
    notice.daemon = True
    notice.start()
    try:
        yield
    finally:
        notice.cancel()


def run_build(
    cmd: Sequence[str],
    *,
    doing: str,
    slow_notice: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    explain: Callable[[str], str] = summarise,
) -> subprocess.CompletedProcess[str]:
    """Runs one toolchain command to completion and returns it (exit status 0).

    `doing` names the step for errors ("compiling hello.c"); `slow_notice` is logged once if the
    build is still running after SLOW_BUILD_NOTICE_S. Raises GuestBuildError when the command
    cannot start, runs past BUILD_TIMEOUT_S or exits non-zero: "{doing} failed:" and what
    `explain` makes of its stderr (by default its error lines, bounded).
    """
    try:
        with notice_if_slow(slow_notice):
            proc = subprocess.run(
                list(cmd),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
                check=False,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
    except subprocess.TimeoutExpired as exc:
        raise GuestBuildError(f"{doing} took longer than {BUILD_TIMEOUT_S} s") from exc
    except OSError as exc:
        raise GuestBuildError(f"{doing}: cannot run {cmd[0]}: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise GuestBuildError(f"{doing} failed:{explain(proc.stderr or proc.stdout)}")
    return proc
