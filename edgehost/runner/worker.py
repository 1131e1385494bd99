"""One ingress worker of a multi-worker runner: serves what the node's agent published.

Granian starts each worker with `create_app` (a factory target) in a fresh interpreter. The
worker never talks to the CP: it polls `serving.json` under `runner.state_dir` (a `stat` every
`POLL_S`; the agent replaces the file atomically, so a new inode means new content) and applies it
from the shared cache, verifying every artifact it reads. Its guest CPU seconds go back to the
agent through `usage.UsageWriter`, and records of tailed projects through `tail.TailRelay`.
Why files and not a socket: see docs/runner.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import msgspec

from edgehost.app import ListenerApp, build_app
from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.plugin_manager import make_plugin_manager
from edgehost.runner.assembly import RunnerParts, assemble_runner
from edgehost.runner.node import NodeState
from edgehost.runner.statefile import SERVING_FILE, ServingState, load_state
from edgehost.runner.tail import TAIL_DIR, TailRelay, relay_from_worker
from edgehost.runner.usage import USAGE_DIR, UsageWriter
from edgehost.serving import bound_sends_once_listening, freeze_long_lived
from edgehost.settings import Settings

log = logging.getLogger("edgefn.worker")

SETTINGS_ENV = "EDGEHOST_WORKER_SETTINGS"  # not EDGEFN_*: dynaconf would read it as a setting
POLL_S = 0.05  # a stat; a deploy reaches the workers within this of the agent


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that hands the parent's resolved settings to its workers, byte for byte."""
    return {SETTINGS_ENV: msgspec.json.encode(settings).decode()}


class ServingWatcher:
    """Applies `serving.json` to the worker's node whenever the agent replaces it."""

    def __init__(self, node: NodeState, path: Path, usage: UsageWriter) -> None:
        self.node = node
        self.path = path
        self.usage = usage
        self._stamp: tuple[int, int] | None = None

    async def check_once(self) -> bool:
        """Applies the file if it changed since the last check; returns whether it did."""
        self.usage.add(self.node.drain_usage())
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._stamp:
            return False
        desired = await asyncio.to_thread(load_state, self.path, ServingState)
        self._stamp = stamp
        if desired is None:
            return False
        await self.node.apply(desired)
        log.info("worker %d serves revision %d", os.getpid(), desired.revision)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                await self.check_once()
            except Exception:  # keep serving the previous snapshot
                log.exception("applying %s failed", self.path)


class WorkerPlugin:
    """Runs the watcher for the life of the worker's ingress app (first apply before any request)."""

    def __init__(self, watcher: ServingWatcher, parts: RunnerParts, tail: TailRelay) -> None:
        self.watcher = watcher
        self.parts = parts
        self.tail = tail

    @hookimpl
    def edgehost_lifespan(
        self, listener: str, ctx: AppContext
    ) -> Sequence[Callable[[Any], AbstractAsyncContextManager[None]]]:
        if listener != "ingress":
            return []

        @contextlib.asynccontextmanager
        async def watch(_app: Any) -> AsyncIterator[None]:
            await self.watcher.check_once()
            await self.watcher.node.settled()  # the first snapshot serves everything before any request
            freeze_long_lived()
            runner = ctx.settings.runner
            tasks = [
                asyncio.create_task(
                    bound_sends_once_listening(runner.ingress_port, runner.send_timeout_s),
                    name="send-timeout",
                ),
                asyncio.create_task(self.watcher.run(), name="serving-watcher"),
                asyncio.create_task(relay_from_worker(self.tail), name="tail-relay"),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await self.parts.close()

        return [watch]


def create_app() -> ListenerApp:
    """Granian's factory target, called once in each worker process."""
    logging.basicConfig(
        level=os.environ.get("EDGEFN_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s %(name)s[{os.getpid()}]: %(message)s",
        stream=sys.stderr,
    )
    settings = msgspec.json.decode(os.environ[SETTINGS_ENV], type=Settings)
    ctx = AppContext(
        settings=settings,
        pm=make_plugin_manager(settings.plugins, settings.disabled_plugins),
        mode=settings.mode,
    )
    state_dir = Path(settings.runner.state_dir)
    parts = assemble_runner(ctx, "worker")
    watcher = ServingWatcher(parts.node, state_dir / SERVING_FILE, UsageWriter(state_dir / USAGE_DIR))
    ctx.pm.register(WorkerPlugin(watcher, parts, TailRelay(state_dir / TAIL_DIR)), name="runner-worker")
    return build_app("ingress", ctx)
