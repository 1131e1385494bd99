"""The sync agent: one per node, whatever the number of ingress workers.

It heartbeats every `heartbeat.interval_s` (once the CP has answered, the CP's value from
its reply: the CP paces its fleet), long-polls the watch for instant changes unless
`heartbeat.watch` is false, applies what the CP wants, and persists the last desired state
under `runner.state_dir` so a runner restarted while the CP is down serves what it had.
Losing the CP never stops serving; the agent reconnects with exponential backoff (1 s
doubling to 60 s, jittered).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil

from edgehost.backoff import Backoff
from edgehost.protocol import CachedFunction, DesiredState, Heartbeat, HeartbeatReply
from edgehost.runner.cp_client import ControlPlaneClient
from edgehost.runner.statefile import DESIRED_FILE, load_state, save_state
from edgehost.runner.tail import TAIL_DIR, TailRelay, forward_tail

log = logging.getLogger("edgefn.agent")

RECONNECT = Backoff()  # requirement 11.1: 1 s doubling to 60 s, jittered


def save_desired(state_dir: Path, desired: DesiredState) -> None:
    save_state(state_dir / DESIRED_FILE, desired)


def load_desired(state_dir: Path) -> DesiredState | None:
    return load_state(state_dir / DESIRED_FILE)


class SyncAgent:
    def __init__(
        self,
        cp: ControlPlaneClient,
        *,
        node_id: str,
        labels: dict[str, str],
        state_dir: Path,
        interval_s: float,
        watch: bool = True,
        apply: Callable[[DesiredState], Awaitable[None]],
        settled: Callable[[], Awaitable[None]] | None = None,
        inventory: Callable[[], tuple[CachedFunction, ...]],
        drain_usage: Callable[[], dict[str, float]],
        public_url: str = "",
        metrics_url: str = "",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff: Backoff = RECONNECT,
        rng: random.Random | None = None,
    ) -> None:
        self.cp = cp
        self.node_id = node_id
        self.labels = labels
        self.state_dir = state_dir
        self.interval_s = interval_s
        self.watch = watch
        self._apply = apply
        self._settled = settled
        self._inventory = inventory
        self._drain_usage = drain_usage
        self.public_url = public_url
        self.metrics_url = metrics_url
        self._sleep = sleep
        self._backoff = backoff
        self._rng = rng
        self.revision = -1
        self.connected = asyncio.Event()
        self._unsent_usage: dict[str, float] = {}

    async def restore(self) -> None:
        """Serves the last persisted desired state before the CP has said anything."""
        desired = load_desired(self.state_dir)
        if desired is not None:
            log.info("restoring desired state r%s from disk", desired.revision)
            await self._accept(desired, persist=False)
            if self._settled is not None:  # apply brings deployments up in the background
                await self._settled()

    async def _accept(self, desired: DesiredState, *, persist: bool = True) -> bool:
        """Applies `desired`; False when that failed (logged), so the loops retry it later and
        keep heartbeating and watching: no desired state may stop a node's sync."""
        try:
            await self._apply(desired)
        except Exception:
            log.exception("could not apply desired state r%s; serving the previous one", desired.revision)
            return False
        self.revision = desired.revision
        if persist:
            await asyncio.to_thread(save_desired, self.state_dir, desired)
        return True

    async def beat_once(self) -> HeartbeatReply:
        usage = dict(self._unsent_usage)
        for tenant, seconds in self._drain_usage().items():
            usage[tenant] = usage.get(tenant, 0.0) + seconds
        self._unsent_usage = {}
        beat = Heartbeat(
            node_id=self.node_id,
            status="ready",
            cpu_percent=psutil.cpu_percent(interval=None),
            mem_bytes=_node_rss(),
            labels=self.labels,
            functions=self._inventory(),
            revision=self.revision,
            cpu_usage=usage,
            public_url=self.public_url,
            metrics_url=self.metrics_url,
        )
        try:
            reply = await self.cp.heartbeat(beat)
        except Exception:
            self._unsent_usage = usage  # delivered with the next heartbeat instead of lost
            raise
        if reply.desired.revision != self.revision or reply.instructions:
            await self._accept(reply.desired)
        return reply

    async def heartbeat_forever(self) -> None:
        waits = self._backoff.waits(self._rng)
        while True:
            try:
                reply = await self.beat_once()
            except Exception as exc:
                self.connected.clear()
                delay = next(waits)
                log.warning("control plane unreachable (%s); retrying in %.1fs", _reason(exc), delay)
                await self._sleep(delay)
                continue
            waits = self._backoff.waits(self._rng)
            self.connected.set()
            await self._sleep(reply.heartbeat_interval_s or self.interval_s)

    async def watch_forever(self) -> None:
        waits = self._backoff.waits(self._rng)
        while True:
            await self.connected.wait()
            try:
                desired = await self.cp.watch(self.revision)
            except Exception as exc:
                delay = next(waits)
                log.info("watch interrupted (%s); retrying in %.1fs", _reason(exc), delay)
                await self._sleep(delay)
                continue
            if desired is not None and desired.revision != self.revision and not await self._accept(desired):
                await self._sleep(next(waits))  # the next heartbeat or watch answer tries again
                continue
            waits = self._backoff.waits(self._rng)

    async def run(self) -> None:
        """The sync loops, for good; `restore` first, before the node's listeners open."""
        loops = [self.heartbeat_forever(), forward_tail(self.cp, relay=TailRelay(self.state_dir / TAIL_DIR))]
        if self.watch:
            loops.append(self.watch_forever())
        await asyncio.gather(*loops)


def _node_rss() -> int:
    """The agent's memory plus its ingress workers' (children), the runner's whole footprint."""
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:  # exited meanwhile
            continue
    return total


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}: {exc.response.text[:200]}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
