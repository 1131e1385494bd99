"""Live tail, runner side: forward invocation records of the projects someone is tailing to the CP.

The CP says which projects are tailed through a long-poll (`GET /v1/node/tail`), so a
runner forwards nothing, and pays one set lookup per request, while nobody tails. Records
queue in a bounded buffer (the oldest are dropped if the CP is slow) and go to the CP in
batches (`POST /v1/node/tail`) every `FLUSH_S`. The buffer is per process: it is fed by
the invocation log plugin in the process that also runs the sync agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from edgehost.runner.agent import ControlPlaneClient

log = logging.getLogger("edgefn.tail")

FLUSH_S = 0.1
WATCH_TIMEOUT_S = 25.0
MAX_BUFFERED = 2000


class TailBuffer:
    def __init__(self, maxlen: int = MAX_BUFFERED) -> None:
        self.projects: frozenset[str] = frozenset()
        self.records: deque[Any] = deque(maxlen=maxlen)

    def offer(self, project: str, record: Any) -> None:
        """Per request: keeps the record (anything msgspec encodes) only if its project is being tailed."""
        if project in self.projects:
            self.records.append(record)

    def drain(self) -> list[Any]:
        batch = list(self.records)
        self.records.clear()
        return batch


TAIL = TailBuffer()


async def _watch(cp: ControlPlaneClient, buffer: TailBuffer) -> None:
    delay = 1.0
    while True:
        try:
            response = await cp.client.get(
                "/v1/node/tail",
                params={"known": ",".join(sorted(buffer.projects)), "timeout": WATCH_TIMEOUT_S},
                headers=cp.credentials.headers(),
                timeout=WATCH_TIMEOUT_S + 10,
            )
            response.raise_for_status()
            projects = frozenset(msgspec.json.decode(response.content)["projects"])
        except Exception as exc:
            log.debug("tail watch failed (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)
            continue
        delay = 1.0
        if projects != buffer.projects:
            log.info("tailing %s", ", ".join(sorted(projects)) or "nothing")
            buffer.projects = projects
            if not projects:
                buffer.records.clear()


async def _flush(cp: ControlPlaneClient, buffer: TailBuffer) -> None:
    while True:
        await asyncio.sleep(FLUSH_S)
        if not buffer.records:
            continue
        batch = buffer.drain()
        try:
            response = await cp.client.post(
                "/v1/node/tail",
                content=msgspec.json.encode({"records": batch}),
                headers={**cp.credentials.headers(), "content-type": "application/json"},
            )
            response.raise_for_status()
        except Exception as exc:  # a tail is best effort: drop the batch, keep serving
            log.debug("dropped %d tail records: %s", len(batch), exc)


async def forward_tail(cp: ControlPlaneClient, buffer: TailBuffer = TAIL) -> None:
    """Runs with the sync agent for the life of the runner."""
    await asyncio.gather(_watch(cp, buffer), _flush(cp, buffer))
