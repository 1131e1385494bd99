"""Processes the benchmarks drive: `edgefn dev` on the example project, the baseline apps
(bench/baseline_app.py) and workerd running the same guest (bench/workerd/)."""

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

import wasmtime

from bench.common import CACHE, REPO
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
def baseline(
    log_dir: Path, kind: str = "litestar", workers: int = 1, prefix: list[str] | None = None
) -> Iterator[Target]:
    """A baseline app (`litestar`, `asgi` or `rsgi`, bench/baseline_app.py; `asgi` also in several
    worker processes) as its own process, started through `prefix` if given (a command that execs
    the command line following it, e.g. bench/cpu_budget.py's launcher); yields its /hello URL and pid."""
    port = free_port()
    cmd = [*(prefix or []), sys.executable, "-m", "bench.baseline_app", str(port), kind, str(workers)]
    with _process(cmd, log_dir / f"{kind}-{workers}.log") as pid:
        wait_for_port("127.0.0.1", port, 30)
        yield Target(f"http://127.0.0.1:{port}/hello", pid)


WORKERD_DIR = Path(__file__).parent / "workerd"


def workerd_binary() -> Path | None:
    """workerd from the npm registry, as bench/run.sh installs it into the bench cache."""
    found = CACHE / "workerd" / "node_modules" / ".bin" / "workerd"
    return found if found.exists() else None


@contextmanager
def workerd(log_dir: Path, work: Path) -> Iterator[Target]:
    """workerd serving the hello guest (functions/hello/hello.wat) through bench/workerd/worker.js."""
    binary = workerd_binary()
    if binary is None:
        raise FileNotFoundError("workerd is not installed: run bench/run.sh (npm install workerd)")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("hello.capnp", "worker.js"):
        shutil.copy(WORKERD_DIR / name, work / name)
    (work / "hello.wasm").write_bytes(wasmtime.wat2wasm((REPO / "functions/hello/hello.wat").read_text()))
    port = free_port()
    cmd = [str(binary), "serve", str(work / "hello.capnp"), "--socket-addr", f"http=127.0.0.1:{port}"]
    with _process(cmd, log_dir / "workerd.log") as pid:
        wait_for_port("127.0.0.1", port, 30)
        yield Target(f"http://127.0.0.1:{port}/hello", pid)


@contextmanager
def _process(cmd: list[str], log_path: Path) -> Iterator[int]:
    """`cmd` in its own session with its output in `log_path`; yields its pid, stops its group after."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            yield proc.pid
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
