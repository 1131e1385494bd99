"""Live tail, CP side: a per-project fan-out hub between runners and `edgefn tail` clients.

Runners long-poll which projects are tailed and post batches of invocation records; each
developer stream (`GET /v1/projects/{p}/tail`, NDJSON) gets the records of its project.
The hub lives in the CP process: with several CP replicas behind one address, a tail sees
the records posted to its own replica only (documented in docs/observability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from edgehost.controlplane import access
from edgehost.controlplane.access import READ
from edgehost.controlplane.openapi import refusals
from edgehost.controlplane.schemas import MAX_WAIT_S, WaitSeconds

QUEUE_SIZE = 1000
KEEPALIVE_S = 15.0


class TailBatch(msgspec.Struct):
    records: list[dict[str, Any]]


class TailHub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._changed = asyncio.Event()

    def projects(self) -> list[str]:
        return sorted(project for project, queues in self._subscribers.items() if queues)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @contextlib.contextmanager
    def subscribe(self, project: str) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
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
            for queue in self._subscribers.get(str(record.get("project", "")), ()):
                with contextlib.suppress(asyncio.QueueFull):  # a slow reader loses lines, not the CP
                    queue.put_nowait(record)

    async def wait_change(self, known: set[str], timeout: float) -> list[str]:
        """The tailed projects, as soon as they differ from `known` or after `timeout`."""
        changed = self._changed
        if set(self.projects()) == known:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return self.projects()


def hub_of(state: State) -> TailHub:
    hub: TailHub = state.ctx.services.setdefault("tail_hub", TailHub())
    return hub


async def _lines(hub: TailHub, project: str, function_id: str | None) -> AsyncIterator[bytes]:
    encode = msgspec.json.encode
    with hub.subscribe(project) as queue:
        yield encode({"event": "connected", "project": project}) + b"\n"
        while True:
            try:
                record = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield b"\n"  # lets a vanished client surface as a failed write
                continue
            if function_id is None or record.get("function_id") == function_id:
                yield encode(record) + b"\n"


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
    state: State, node_id: NamedDependency[str], known: FromQuery[str] = "", timeout: WaitSeconds = 25.0
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
