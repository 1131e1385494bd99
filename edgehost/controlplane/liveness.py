"""What each node last told this CP replica, and its "still alive" writes coalesced into batches.

A heartbeat that changes nothing meaningful (same labels, inventory and advertised URLs, the node
online) only moves `last_heartbeat`, `cpu_percent` and `mem_bytes`. Those wait in a
`LivenessBatch` and reach the database as one statement for all nodes every `FLUSH_S`; anything
else is written through (and a beat this replica has no entry for reads the node's rows and
writes only what differs).

Staleness bounds, with several replicas on one database:
- `last_heartbeat` lags a beat by at most `FLUSH_S` plus one statement, far below
  `heartbeat.offline_after_s`, so the offline sweep is unaffected. A batch never moves a
  timestamp backwards (another replica may have written a newer one).
- What a replica last wrote for a node is checked against the database every `VERIFY_AFTER_S`
  (a random 50-100% of it per entry, so nodes seen together are not all checked together), by
  `reverify`: two queries for all nodes due. If the node's labels, inventory, online status or
  deployment states were changed meanwhile (by another replica the node reached, or the offline
  sweep), the entry is dropped and the node's next beat is written through. So another replica's
  write is masked here for at most `VERIFY_AFTER_S` plus one flush period.
- An entry also lapses once the node has been silent here for half of `offline_after_s`, so a
  node that the sweep may have marked offline is written through (back online) when it returns.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

import msgspec
from piccolo.engine import PostgresEngine

from edgehost.db.tables import Node, NodeDeployment
from edgehost.protocol import CachedFunction, Heartbeat

FLUSH_S = 0.5
VERIFY_AFTER_S = 30.0
VERIFY_BATCH = 500  # nodes checked per `reverify` at most; the rest wait for the next flush period

# One round trip for the whole batch; `<` keeps a newer timestamp written by another replica.
_PG_UPDATE = """
UPDATE edgefn_node AS n SET last_heartbeat = v.at, cpu_percent = v.cpu, mem_bytes = v.mem
FROM unnest({}::text[], {}::timestamptz[], {}::float8[], {}::int8[]) AS v(node_id, at, cpu, mem)
WHERE n.node_id = v.node_id AND n.last_heartbeat < v.at
"""


@dataclass
class Seen:
    """A node's labels, inventory and advertised URLs as this replica last wrote them; times in
    monotonic seconds."""

    labels: dict[str, str]
    functions: tuple[CachedFunction, ...]
    urls: tuple[str, str]  # public_url, metrics_url
    verify_at: float
    beat_at: float


class SeenNodes:
    def __init__(
        self,
        *,
        silent_after_s: float,
        verify_after_s: float = VERIFY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._silent_after_s = silent_after_s
        self._verify_after_s = verify_after_s
        self._clock = clock
        self._nodes: dict[str, Seen] = {}

    def fresh(self, node_id: str) -> Seen | None:
        """What this replica last wrote for the node, unless the node has been silent too long."""
        seen = self._nodes.get(node_id)
        if seen is not None and self._clock() - seen.beat_at >= self._silent_after_s:
            del self._nodes[node_id]
            return None
        return seen

    def unchanged(self, node_id: str, beat: Heartbeat) -> bool:
        """True, noting the beat, if the node is known here and this beat changes nothing but liveness."""
        seen = self.fresh(node_id)
        if (
            seen is None
            or seen.labels != beat.labels
            or seen.functions != beat.functions
            or seen.urls != (beat.public_url, beat.metrics_url)
        ):
            return False
        seen.beat_at = self._clock()
        return True

    def remember(self, node_id: str, beat: Heartbeat) -> None:
        now = self._clock()
        urls = (beat.public_url, beat.metrics_url)
        self._nodes[node_id] = Seen(
            dict(beat.labels), beat.functions, urls, verify_at=self._next_check(now), beat_at=now
        )

    def _next_check(self, now: float) -> float:
        return now + self._verify_after_s * random.uniform(0.5, 1.0)

    def due(self, limit: int) -> dict[str, Seen]:
        """Up to `limit` entries whose time to be checked against the database has come."""
        now = self._clock()
        return dict(islice(((n, s) for n, s in self._nodes.items() if s.verify_at <= now), limit))

    def settle(self, node_id: str, seen: Seen, *, still_true: bool) -> None:
        """After a check: trust the entry for another period, or drop it (unless replaced meanwhile)."""
        if self._nodes.get(node_id) is not seen:
            return
        if still_true:
            seen.verify_at = self._next_check(self._clock())
        else:
            del self._nodes[node_id]

    def forget(self, node_id: str | None = None) -> None:
        """Drops one node (or all): its next heartbeat is written through."""
        if node_id is None:
            self._nodes.clear()
        else:
            self._nodes.pop(node_id, None)


async def reverify(seen: SeenNodes, limit: int = VERIFY_BATCH) -> int:
    """Checks the entries due against the nodes' rows, two queries for all of them; returns how many
    no longer held (their nodes' next beats are written through)."""
    due = seen.due(limit)
    if not due:
        return 0
    ids = list(due)
    nodes = await (
        Node.select(Node.node_id, Node.status, Node.labels, Node.inventory, Node.public_url, Node.metrics_url)
        .where(Node.node_id.is_in(ids))
        .output(load_json=True)
    )
    rows = {r["node_id"]: r for r in nodes}
    states = {
        (r["node_id"], r["function_id"], r["version"]): (r["state"], r["error"])
        for r in await NodeDeployment.select().where(NodeDeployment.node_id.is_in(ids))
    }
    stale = 0
    for node_id, entry in due.items():
        row = rows.get(node_id)
        holds = (
            row is not None
            and row["status"] == "online"
            and row["labels"] == entry.labels
            and (row["public_url"], row["metrics_url"]) == entry.urls
            and row["inventory"] == list(msgspec.to_builtins(entry.functions))
            and all(
                states.get((node_id, f.function_id, f.version)) == (f.state, f.error) for f in entry.functions
            )
        )
        seen.settle(node_id, entry, still_true=holds)
        stale += not holds
    return stale


class LivenessBatch:
    """The latest liveness of each node since the last flush; one UPDATE writes them all."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[dt.datetime, float, int]] = {}

    def add(self, node_id: str, at: dt.datetime, cpu_percent: float, mem_bytes: int) -> None:
        self._pending[node_id] = (at, cpu_percent, mem_bytes)

    async def flush(self) -> int:
        """Writes what is pending; returns how many nodes. On failure the batch stays pending
        (under any newer values) and the error is raised."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            await _write(pending)
        except BaseException:
            self._pending = {**pending, **self._pending}
            raise
        return len(pending)


async def _write(pending: dict[str, tuple[dt.datetime, float, int]]) -> None:
    db = Node._meta.db
    if isinstance(db, PostgresEngine):
        ats, cpus, mems = (list(column) for column in zip(*pending.values(), strict=True))
        await Node.raw(_PG_UPDATE, list(pending), ats, cpus, mems)
        return
    for node_id, (at, cpu, mem) in pending.items():  # SQLite: the dev database, a handful of nodes
        await Node.update({Node.last_heartbeat: at, Node.cpu_percent: cpu, Node.mem_bytes: mem}).where(
            (Node.node_id == node_id) & (Node.last_heartbeat < at)
        )
