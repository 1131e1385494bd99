"""The parent process of a multi-worker runner: granian's worker processes plus the node's one agent.

The main thread runs granian's multi-process server (it must: granian installs its signal handlers
there and respawns crashed workers); the sync agent and the metrics listener run in one asyncio
loop on a second thread. Workers are spawned, not forked, because the parent already runs threads
(the agent, wasmtime's epoch ticker) whose locks a fork would copy mid-use. See docs/runner.md.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import MPServer

from edgehost.runner.usage import USAGE_DIR, UsageCollector
from edgehost.runner.worker import settings_env
from edgehost.serving import ConnectionLimits, check_free, ensure_open_files
from edgehost.settings import Settings

log = logging.getLogger("edgefn.runner")

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_TARGET = "edgehost.runner.worker:create_app"
AgentMain = Callable[[asyncio.Event], Awaitable[None]]


def metrics_dir(settings: Settings) -> Path:
    return Path(settings.runner.state_dir) / "metrics"


def ensure_multiprocess_metrics(directory: Path) -> None:
    """Points prometheus-client at a fresh per-node folder, re-executing this command if needed.

    prometheus-client chooses where values live when it is imported, and the CLI imports the
    plugins (and with them prometheus-client) before any command runs; so the variable is set,
    the folder emptied, and the same command line executed again (same pid) to import with it.
    """
    if os.environ.get(METRICS_ENV) == str(directory):
        return
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[METRICS_ENV] = str(directory)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


class AgentThread(threading.Thread):
    """Runs `main(stop)` in its own event loop; if it fails, the whole runner stops."""

    def __init__(self, main: AgentMain) -> None:
        super().__init__(name="sync-agent", daemon=True)
        self._main = main
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._started = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException:
            log.exception("the sync agent failed; stopping the runner")
            self._started.set()
            os.kill(os.getpid(), signal.SIGTERM)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._started.set()
        await self._main(self._stop_event)

    def stop(self, timeout: float = 15.0) -> None:
        self._started.wait(timeout)
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)


def serve_with_workers(settings: Settings, workers: int, agent: AgentMain) -> None:
    """Serves the ingress from `workers` processes and runs `agent` beside them until SIGINT/SIGTERM."""
    r = settings.runner
    check_free(r.host, r.ingress_port)
    check_free(r.host, r.metrics_port)
    limits = ConnectionLimits.ingress(r)
    ensure_open_files(limits.max_connections)  # inherited by the workers, each holding that many
    UsageCollector(Path(r.state_dir) / USAGE_DIR).reset()  # before any worker can write
    os.environ.update(settings_env(settings))
    multiprocessing.set_start_method("spawn", force=True)
    server = MPServer(
        WORKER_TARGET,
        address=r.host,
        port=r.ingress_port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        websockets=False,
        **limits.granian_options(),
        respawn_failed_workers=True,
        log_level=LogLevels.warning,
    )
    thread = AgentThread(agent)
    thread.start()
    try:
        server.serve()
    finally:
        thread.stop()
