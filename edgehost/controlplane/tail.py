"""Live tail, CP side: a per-project fan-out hub between runners and `edgefn tail` clients.

Runners long-poll which projects are tailed and post batches of invocation records; each
developer stream (`GET /v1/projects/{p}/tail`, NDJSON) gets the records of its project, encoded
once per record and queued per stream up to MAX_QUEUED_BYTES (a record can carry 64 KiB of guest
output, so a count of records would not bound the CP's memory): a slow reader loses lines.
The hub lives in the CP process: with several CP replicas behind one address, a tail sees
the records posted to its own replica only (documented in docs/observability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from edgehost.context import AppContext
from edgehost.controlplane import access
from edgehost.controlplane.access import READ
from edgehost.controlplane.openapi import refusals
from edgehost.controlplane.schemas import MAX_WAIT_S, WaitSeconds
from edgehost.protocol import LONG_POLL_S

MAX_QUEUED_BYTES = 4 << 20
KEEPALIVE_S = 15.0


class TailBatch(msgspec.Struct):
    records: list[dict[str, Any]]


class Backlog:
    """One stream's waiting lines, `(function_id, NDJSON line)`, at most `max_bytes` of them."""

    def __init__(self, max_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._lines: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()

    def put(self, function_id: str, line: bytes) -> None:
        """Queues the line unless the backlog is full: the newest lines are the ones lost."""
        if self.size + len(line) <= self.max_bytes:
            self._lines.append((function_id, line))
            self.size += len(line)
            self._ready.set()

    async def get(self, timeout: float) -> tuple[str, bytes] | None:
        """The oldest line, waiting up to `timeout` seconds for one (None if none came)."""
        if not self._lines:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
            if not self._lines:
                return None
        function_id, line = self._lines.popleft()
        self.size -= len(line)
        return function_id, line


class TailHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Backlog]] = {}
        self._changed = asyncio.Event()

    def projects(self) -> list[str]:
        return sorted(project for project, queues in self._subscribers.items() if queues)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @contextlib.contextmanager
    def subscribe(self, project: str) -> Iterator[Backlog]:
        queue = Backlog()
        queues = self._subscribers.setdefault(project, set())
        queues.add(queue)
        if len(queues) == 1:
            self._notify()
        try:
            yield queue
        finally:
            queues.discard(queue)
            if not queues:
                del self._subscribers[project]
                self._notify()

    def publish(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            queues = self._subscribers.get(str(record.get("project", "")), ())
            if queues:
                line = msgspec.json.encode(record) + b"\n"
                for queue in queues:
                    queue.put(str(record.get("function_id", "")), line)

    async def wait_change(self, known: set[str], timeout: float) -> list[str]:
        """The tailed projects, as soon as they differ from `known` or after `timeout`."""
        changed = self._changed
        if set(self.projects()) == known:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return self.projects()


def hub_of(state: State) -> TailHub:
    ctx: AppContext = state.ctx
    return ctx.services.setdefault("tail_hub", TailHub, TailHub)


async def _lines(hub: TailHub, project: str, function_id: str | None) -> AsyncIterator[bytes]:
    with hub.subscribe(project) as queue:
        yield msgspec.json.encode({"event": "connected", "project": project}) + b"\n"
        while True:
            item = await queue.get(KEEPALIVE_S)
            if item is None:
                yield b"\n"  # lets a vanished client surface as a failed write
            elif function_id is None or item[0] == function_id:
                yield item[1]


@get(
    "/projects/{project:str}/tail",
    tags=["status"],
    summary="Stream a project's invocation records as they happen (NDJSON)",
    responses=refusals(404),
)
async def tail(
    project: FromPath[str], caller: NamedDependency[str], state: State, function: FromQuery[str | None] = None
) -> Stream:
    """Streams the project's invocation records (NDJSON) as runners report them, until the client leaves."""
    await access.project_for(caller, project, READ)
    function_id = f"{project}.{function}" if function else None
    return Stream(
        _lines(hub_of(state), project, function_id),
        media_type="application/x-ndjson",
        headers={"cache-control": "no-cache"},
    )


@get("/tail", summary="Wait until the set of tailed projects differs from `known`")
async def tail_projects(
    state: State,
    node_id: NamedDependency[str],
    known: FromQuery[str] = "",
    timeout: WaitSeconds = LONG_POLL_S,
) -> dict[str, Any]:
    """Node long-poll: which projects someone tails."""
    wanted = {p for p in known.split(",") if p}
    projects = await hub_of(state).wait_change(wanted, min(max(timeout, 0.0), MAX_WAIT_S))
    return {"projects": projects}


@post("/tail", status_code=202, summary="Post invocation records to the live tails")
async def tail_records(
    data: JSONBody[TailBatch], state: State, node_id: NamedDependency[str]
) -> dict[str, Any]:
    hub_of(state).publish(data.records)
    return {"accepted": len(data.records)}
