"""Live tail, runner side: forward invocation records of the projects someone is tailing to the CP.

The CP says which projects are tailed through a long-poll (`GET /v1/node/tail`), so a
runner forwards nothing, and pays one set lookup per request, while nobody tails. Records are
kept as the JSON lines the invocation log already encoded, in a buffer bounded in bytes
(MAX_BUFFERED_BYTES; the oldest are dropped if the CP is slow, and a record can carry 64 KiB of
guest output), and go to the CP in batches (`POST /v1/node/tail`) every `FLUSH_S`. The buffer
is per process, fed by the invocation log plugin; ingress workers of a multi-worker runner hand
theirs to the agent through `TailRelay`, the same file-based path their CPU usage takes
(docs/runner.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from edgehost.backoff import Backoff
from edgehost.files import write_atomic

if TYPE_CHECKING:
    from edgehost.runner.cp_client import ControlPlaneClient

log = logging.getLogger("edgefn.tail")

FLUSH_S = 0.1
WATCH_BACKOFF = Backoff(max_s=30.0)
# Per process, and again for what the agent collects from its workers per flush: a batch posted
# to the CP stays under twice this, within the CP's 10 MB request limit.
MAX_BUFFERED_BYTES = 4 << 20


class TailBuffer:
    """The encoded records of tailed projects, at most `max_bytes` of them (the oldest go first)."""

    def __init__(self, max_bytes: int = MAX_BUFFERED_BYTES) -> None:
        self.projects: frozenset[str] = frozenset()
        self.records: deque[bytes] = deque()
        self.size = 0
        self.max_bytes = max_bytes

    def offer(self, project: str, line: bytes) -> None:
        """Per request: keeps the record (one encoded JSON object) only if its project is being tailed."""
        if project in self.projects:
            self.records.append(line)
            self.size += len(line)
            while self.size > self.max_bytes:
                self.size -= len(self.records.popleft())

    def drain(self) -> list[bytes]:
        batch = list(self.records)
        self.clear()
        return batch

    def clear(self) -> None:
        self.records.clear()
        self.size = 0


TAIL = TailBuffer()
TAIL_DIR = "tail"
_PROJECTS = "projects.json"
_decode_projects = msgspec.json.Decoder(list[str])


class TailRelay:
    """Tail records between a runner's ingress workers and its agent, as files under `state_dir/tail`.

    The agent publishes which projects are tailed (`projects.json`, replaced atomically); each
    worker polls it and hands over its records as batch files (`{pid}-{n}.jsonl`, written to a
    temporary name and renamed), which the agent reads and deletes when it flushes to the CP.
    Files, not a socket, for the reasons `usage` uses them: no server in the agent, nothing to
    reconnect when a worker restarts, and a dead worker's last batch still reaches the CP.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp: tuple[int, int] | None = None
        self._batches = 0

    # The agent's side.
    def reset(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)

    def publish(self, projects: frozenset[str]) -> None:
        write_atomic(self.directory / _PROJECTS, msgspec.json.encode(sorted(projects)), durable=False)

    def collect(self, max_bytes: int = MAX_BUFFERED_BYTES) -> list[msgspec.Raw]:
        """The workers' records, each checked to be one JSON value; batches past `max_bytes` (workers
        outpacing the CP) are deleted unread, as a worker's own buffer drops its oldest."""
        records: list[msgspec.Raw] = []
        for path in sorted(self.directory.glob("*.jsonl")):
            try:
                if max_bytes <= 0:
                    path.unlink()
                    log.debug("dropped tail batch %s: over %d bytes this flush", path.name, max_bytes)
                    continue
                data = path.read_bytes()
                path.unlink()
                lines = [line for line in data.splitlines() if line]
                for line in lines:
                    msgspec.json.decode(line)
            except FileNotFoundError:
                continue
            except (OSError, msgspec.DecodeError) as exc:  # best effort: drop the batch, keep tailing
                log.debug("dropped tail batch %s: %s", path.name, exc)
                continue
            max_bytes -= len(data)
            records.extend(msgspec.Raw(line) for line in lines)
        return records

    # A worker's side.
    def projects(self) -> frozenset[str] | None:
        """The tailed projects when the agent published a change since the last call, else None."""
        try:
            st = os.stat(self.directory / _PROJECTS)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            return frozenset(_decode_projects.decode((self.directory / _PROJECTS).read_bytes()))
        except (OSError, msgspec.DecodeError):
            return frozenset()

    def hand_over(self, records: list[bytes]) -> None:
        """Writes encoded records (one JSON object each) as the next batch file."""
        self._batches += 1
        write_atomic(
            self.directory / f"{os.getpid()}-{self._batches}.jsonl", b"\n".join(records), durable=False
        )


async def relay_from_worker(relay: TailRelay, buffer: TailBuffer = TAIL) -> None:
    """A worker's loop: follow the agent's project list, hand over what was tailed."""
    while True:
        await asyncio.sleep(FLUSH_S)
        try:
            projects = relay.projects()
            if projects is not None:
                buffer.projects = projects
                if not projects:
                    buffer.clear()
            if buffer.records:
                relay.hand_over(buffer.drain())
        except Exception as exc:  # best effort, like the rest of the tail
            log.debug("tail relay failed: %s", exc)


async def _watch(cp: ControlPlaneClient, buffer: TailBuffer, relay: TailRelay | None) -> None:
    waits = WATCH_BACKOFF.waits()
    while True:
        try:
            response = await cp.long_poll("/v1/node/tail", {"known": ",".join(sorted(buffer.projects))})
            projects = frozenset(msgspec.json.decode(response.content)["projects"])
        except Exception as exc:
            delay = next(waits)
            log.debug("tail watch failed (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            continue
        waits = WATCH_BACKOFF.waits()
        if projects != buffer.projects:
            log.info("tailing %s", ", ".join(sorted(projects)) or "nothing")
            buffer.projects = projects
            if not projects:
                buffer.clear()
            if relay is not None:
                relay.publish(projects)


async def _flush(cp: ControlPlaneClient, buffer: TailBuffer, relay: TailRelay | None) -> None:
    while True:
        await asyncio.sleep(FLUSH_S)
        batch: list[msgspec.Raw] = [msgspec.Raw(line) for line in buffer.drain()]
        if relay is not None and buffer.projects:
            batch += await asyncio.to_thread(relay.collect)
        if not batch:
            continue
        try:
            await cp.post("/v1/node/tail", {"records": batch})
        except Exception as exc:  # a tail is best effort: drop the batch, keep serving
            log.debug("dropped %d tail records: %s", len(batch), exc)


async def forward_tail(
    cp: ControlPlaneClient, buffer: TailBuffer = TAIL, relay: TailRelay | None = None
) -> None:
    """Runs with the sync agent for the life of the runner; `relay` brings the workers' records."""
    if relay is not None:
        relay.reset()
    await asyncio.gather(_watch(cp, buffer, relay), _flush(cp, buffer, relay))
