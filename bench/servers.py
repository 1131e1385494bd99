"""Processes the benchmarks drive: `edgefn dev` on the example project, and the bare baseline app."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO
from tests.procs import DevServer, serving
from tests.services import free_port, wait_for_port


def copy_example(dest: Path) -> Path:
    """The repo's example project in a scratch folder, so its .edgefn state never touches the work tree."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "edgefn.toml", dest / "edgefn.toml")
    shutil.copytree(REPO / "functions" / "hello", dest / "functions" / "hello", dirs_exist_ok=True)
    return dest


# Quotas stay on, but the per-minute window is raised so benchmark rates are not answered with 429.
NO_RATE_LIMIT = {"EDGEFN_QUOTAS__PER_MINUTE": "1000000000"}


def dev(project: Path, log_dir: Path, env: dict[str, str] | None = None) -> AbstractContextManager[DevServer]:
    return serving(DevServer(project, log_dir, {**NO_RATE_LIMIT, **(env or {})}))


@dataclass(frozen=True)
class Target:
    """A server under load: the URL to hit and the process whose CPU time it costs."""

    url: str
    pid: int


@contextmanager
def baseline(log_dir: Path) -> Iterator[Target]:
    """The bare Litestar handler as its own process; yields its /hello URL and pid."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "baseline.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.baseline_app", str(port)],
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            wait_for_port("127.0.0.1", port, 30)
            yield Target(f"http://127.0.0.1:{port}/hello", proc.pid)
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
