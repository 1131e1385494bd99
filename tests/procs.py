"""Running the installed `edgefn` command as a real process: dev, a control plane, runners.

Every process is started in its own process group on free ports and is stopped (then
killed) at the end, so a failing test leaves nothing listening.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from tests.services import free_port, wait_for_port

EDGEFN = str(Path(sys.executable).with_name("edgefn"))
REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs one `edgefn` command to completion and returns its result (never raises on exit status)."""
    return subprocess.run(
        [EDGEFN, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


class EdgefnProcess:
    """A long-running `edgefn` command with its output captured to files.

    With `tty=True` its standard output is a pseudo-terminal (as when a person runs it), copied
    to the same file by a thread.
    """

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None,
        log_dir: Path,
        name: str,
        tty: bool = False,
        command: str = EDGEFN,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        terminal, stdout = pty.openpty() if tty else (None, self._out.fileno())
        self.proc = subprocess.Popen(
            [command, *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=stdout,
            stderr=self._err,
            start_new_session=True,
        )
        self._copier: threading.Thread | None = None
        if terminal is not None:
            os.close(stdout)
            self._copier = threading.Thread(target=self._copy, args=(terminal,), daemon=True)
            self._copier.start()

    def _copy(self, terminal: int) -> None:
        """Copies what the process writes to its terminal into the stdout file until it closes."""
        with suppress(OSError):  # EIO once the process (the last holder of the other end) exits
            while chunk := os.read(terminal, 65536):
                self._out.write(chunk)
                self._out.flush()
        os.close(terminal)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def wait_port(self, port: int, timeout: float = 30.0) -> None:
        try:
            wait_for_port("127.0.0.1", port, timeout)
        except TimeoutError:
            raise AssertionError(f"port {port} never opened; stderr:\n{self.stderr[-3000:]}") from None
        if self.proc.poll() is not None:
            raise AssertionError(f"edgefn exited with {self.proc.returncode}; stderr:\n{self.stderr[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._copier is not None:
            self._copier.join(5)
        self._out.close()
        self._err.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def control_plane_process(config: Path, cwd: Path) -> EdgefnProcess:
    """`edgefn serve --mode control-plane --config CONFIG`, logging under `cwd/logs`."""
    return EdgefnProcess(
        ["serve", "--mode", "control-plane", "--config", str(config)],
        cwd=cwd,
        env=None,
        log_dir=cwd / "logs",
        name="cp",
    )


class DevServer(EdgefnProcess):
    """`edgefn dev` on free ports; `.ingress`, `.api`, `.metrics` are base URLs, `.token` the dev token.

    `command` is the `edgefn` to run: this checkout's, or one installed elsewhere."""

    def __init__(
        self,
        project_dir: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        extra: tuple[str, ...] = (),
        tty: bool = False,
        command: str = EDGEFN,
        ports: Mapping[str, int] | None = None,
    ) -> None:
        self.ports = {"ingress": free_port(), "api": free_port(), "metrics": free_port(), **(ports or {})}
        self.state_dir = project_dir / ".edgefn"
        super().__init__(
            [
                "dev",
                "--project",
                str(project_dir),
                "--ingress-port",
                str(self.ports["ingress"]),
                "--api-port",
                str(self.ports["api"]),
                "--metrics-port",
                str(self.ports["metrics"]),
                "--state-dir",
                str(self.state_dir),
                *extra,
            ],
            cwd=project_dir,
            env=env,
            log_dir=log_dir,
            name="dev",
            tty=tty,
            command=command,
        )
        self.ingress = f"http://127.0.0.1:{self.ports['ingress']}"
        self.api = f"http://127.0.0.1:{self.ports['api']}"
        self.metrics = f"http://127.0.0.1:{self.ports['metrics']}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every listener is up and the dev session printed that it is ready."""
        for port in self.ports.values():
            self.wait_port(port, timeout)
        deadline = time.monotonic() + timeout
        while "edgefn dev ready" not in self.stderr:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"edgefn dev did not become ready; stderr:\n{self.stderr[-3000:]}")
            time.sleep(0.05)

    @property
    def token(self) -> str:
        return (self.state_dir / "token").read_text().strip()


class Startable(Protocol):
    def wait_ready(self) -> None: ...

    def stop(self) -> Any: ...


Ready = TypeVar("Ready", bound=Startable)


@contextmanager
def serving(process: Ready) -> Iterator[Ready]:
    """Waits until `process` is ready, yields it, and stops it however the block ends."""
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def dev_server(
    project_dir: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    extra: tuple[str, ...] = (),
    tty: bool = False,
    command: str = EDGEFN,
    ports: Mapping[str, int] | None = None,
) -> AbstractContextManager[DevServer]:
    return serving(DevServer(project_dir, log_dir, env, extra=extra, tty=tty, command=command, ports=ports))


def wait_until(check: Any, timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Polls `check()` until it returns a truthy value; the value is returned. Not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=10, **kwargs)


def write_project(directory: Path, toml: str, files: Mapping[str, str | bytes] | None = None) -> Path:
    """A project folder with `edgefn.toml` and the guest files it names."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "edgefn.toml").write_text(toml)
    for name, content in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


def answering_wat(body: str) -> str:
    """A guest (WAT, guest ABI v1) that answers every request 200 with the ASCII `body`: it tells a
    test which function answered."""

    def u32(n: int) -> str:
        return "".join(f"\\{b:02x}" for b in n.to_bytes(4, "little"))

    size = 12 + len(body)
    return f"""(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{u32(200)}{u32(0)}{u32(len(body))}{body}")
  (func (export "edgefn_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {size}))))
"""
