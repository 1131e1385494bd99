"""Nodes: heartbeats, inventories, reports, the offline sweep and the daily CPU quota.

A heartbeat that brings nothing new costs no query: its desired state comes from the
`DesiredCache` and its liveness joins the next batched write (see `liveness`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Sum
from piccolo.querystring import QueryString

from edgehost.addresses import AddressError, host_port
from edgehost.controlplane.deployments import Deployments
from edgehost.controlplane.desired_cache import DesiredCache
from edgehost.controlplane.liveness import FLUSH_S, LivenessBatch, SeenNodes, reverify
from edgehost.controlplane.node_feed import count_states
from edgehost.controlplane.notify import Notifier
from edgehost.db.tables import ErrorReport, Node, NodeDeployment, Usage
from edgehost.errors import ApiError
from edgehost.protocol import (
    CachedFunction,
    DesiredState,
    Heartbeat,
    HeartbeatReply,
    Report,
    instructions_for,
)

log = logging.getLogger("edgefn.cp.nodes")
# Usage is kept per project name; anything else a runner might send is not a tenant.
TENANT = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# What a heartbeat writes of a node's row: all but the operator's `draining`.
HEARTBEAT_COLUMNS = (
    Node.labels,
    Node.status,
    Node.last_heartbeat,
    Node.cpu_percent,
    Node.mem_bytes,
    Node.inventory,
    Node.public_url,
    Node.metrics_url,
)
# A cached desired state is recomputed at least this often, and within a quarter of the artifact
# URL lifetime, so the presigned URLs it carries leave runners most of that lifetime to fetch.
DESIRED_MAX_AGE_S = 60.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Nodes:
    def __init__(
        self,
        deployments: Deployments,
        notifier: Notifier,
        *,
        interval_s: float,
        offline_after_s: float,
        cpu_seconds_per_day: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deployments = deployments
        self.notifier = notifier
        self.interval_s = interval_s
        self.offline_after_s = offline_after_s
        self.cpu_seconds_per_day = cpu_seconds_per_day
        self._clock = clock
        self._started = clock()
        self._seen = SeenNodes(silent_after_s=offline_after_s / 2, clock=clock)
        self._alive = LivenessBatch()
        self._desired = DesiredCache(max_age_s=min(DESIRED_MAX_AGE_S, deployments.url_ttl_s / 4))
        # Tenants found over quota by the last desired-state computation, and for which UTC day.
        self._known_blocked: tuple[dt.date, frozenset[str]] = (dt.date.min, frozenset())
        # Nodes per feed state as of the last sweep, for the `edgefn_nodes` gauge.
        self.state_counts: dict[str, int] = {}

    async def heartbeat(self, node_id: str, beat: Heartbeat) -> HeartbeatReply:
        """Records the node's health and inventory, then answers with what it should run."""
        now = utc_now()
        if self._seen.unchanged(node_id, beat):
            self._alive.add(node_id, now, beat.cpu_percent, beat.mem_bytes)
        else:
            await self._write_through(node_id, beat, now)
        if beat.cpu_usage:
            await self._add_usage(beat.cpu_usage)
        desired = await self.desired(node_id, dict(beat.labels))
        return HeartbeatReply(
            desired=desired,
            instructions=instructions_for(desired, beat.functions),
            heartbeat_interval_s=self.interval_s,
        )

    async def _write_through(self, node_id: str, beat: Heartbeat, now: dt.datetime) -> None:
        """A beat this replica cannot vouch for: what differs from the node's row is written at once
        (a new node, one coming back online, changed labels, inventory or URLs), bare liveness is
        batched. `draining` is the operator's and never written here. URLs are checked here: an
        unchanged beat carries those this replica already took."""
        _check_urls(beat)
        previous = self._seen.fresh(node_id)
        node = await Node.objects().where(Node.node_id == node_id).first().output(load_json=True)
        came_back = node is None or node.status != "online"
        inventory = list(msgspec.to_builtins(beat.functions))
        if (
            node is None
            or came_back
            or node.labels != beat.labels
            or node.inventory != inventory
            or (node.public_url, node.metrics_url) != (beat.public_url, beat.metrics_url)
        ):
            node = node or Node(node_id=node_id)
            node.labels = dict(beat.labels)
            node.status = "online"
            node.last_heartbeat = now
            node.cpu_percent = beat.cpu_percent
            node.mem_bytes = beat.mem_bytes
            node.inventory = inventory
            node.public_url = beat.public_url
            node.metrics_url = beat.metrics_url
            await node.save(HEARTBEAT_COLUMNS)
        else:
            self._alive.add(node_id, now, beat.cpu_percent, beat.mem_bytes)
        known = previous.functions if previous is not None else ()
        await self._record_states(node_id, [f for f in beat.functions if f not in known])
        self._seen.remember(node_id, beat)
        if came_back:
            where = beat.public_url or "no URL"
            log.info("node %s online with labels %s at %s", node_id, beat.labels, where)

    async def desired(self, node_id: str, labels: dict[str, str] | None = None) -> DesiredState:
        if labels is None:
            seen = self._seen.fresh(node_id)
            labels = seen.labels if seen is not None else await self._stored_labels(node_id)
        revision = await self.notifier.revision()  # before the data it labels, never after
        key = (utc_now().date(), frozenset(labels.items()))
        return await self._desired.get(revision, key, partial(self._compute_desired, labels, revision))

    async def _compute_desired(self, labels: dict[str, str], revision: int) -> DesiredState:
        blocked = await self.blocked_tenants()
        self._known_blocked = (utc_now().date(), frozenset(blocked))
        return await self.deployments.desired_for(labels, revision=revision, blocked=blocked)

    @staticmethod
    async def _stored_labels(node_id: str) -> dict[str, str]:
        row = await Node.select(Node.labels).where(Node.node_id == node_id).first().output(load_json=True)
        return (row or {}).get("labels") or {}

    async def _record_states(self, node_id: str, items: Sequence[CachedFunction | Report]) -> None:
        """Writes each item's state unless the stored row already says the same; one read for all."""
        if not items:
            return
        rows = await NodeDeployment.objects().where(
            (NodeDeployment.node_id == node_id)
            & NodeDeployment.function_id.is_in(sorted({i.function_id for i in items}))
        )
        stored = {(r.function_id, r.version): r for r in rows}
        for item in items:
            row = stored.get((item.function_id, item.version))
            if row is None:
                row = NodeDeployment(node_id=node_id, function_id=item.function_id, version=item.version)
            elif row.state == item.state and row.error == item.error:
                continue
            row.state, row.error, row.updated_at = item.state, item.error, utc_now()
            await row.save()

    async def report(self, node_id: str, report: Report) -> None:
        """Stores a runner's deployment report; errors are kept and logged with full context for audit."""
        await self._record_states(node_id, [report])
        self._seen.forget(node_id)  # the next heartbeat's inventory is written over this report
        if report.state == "cached":
            return
        context: dict[str, Any] = {
            "node_id": node_id,
            "function_id": report.function_id,
            "version": report.version,
            "timestamp": report.timestamp or utc_now().timestamp(),
            "error_message": report.error,
        }
        if report.expected_sha256:
            context["expected_sha256"] = report.expected_sha256
            context["actual_sha256"] = report.actual_sha256
        await ErrorReport(
            node_id=node_id,
            function_id=report.function_id,
            version=report.version,
            message=report.error,
            context=context,
        ).save()
        log.error(
            "runner reported an error: node_id=%s function_id=%s version=%s timestamp=%s error_message=%s",
            node_id,
            report.function_id,
            report.version,
            dt.datetime.fromtimestamp(context["timestamp"], dt.UTC).isoformat(),
            report.error,
            extra=context,
        )

    async def _add_usage(self, usage: dict[str, float]) -> None:
        """Adds each tenant's guest CPU seconds to today's total; going over the quota wakes every node.

        The update is one atomic statement per tenant and totals are sums, so heartbeats of many
        nodes racing each other (even inserting twin rows) never lose seconds. The revision is bumped
        for a tenant over quota that the last desired state did not block yet, rather than only at
        the exact crossing, which two racing heartbeats could both step over; a replica whose last
        computation predates another's bump may bump once more, which is harmless.
        """
        today = utc_now().date()
        added = {
            tenant: float(seconds)
            for tenant, seconds in usage.items()
            if TENANT.fullmatch(tenant) and math.isfinite(seconds) and seconds > 0
        }
        for tenant, seconds in added.items():
            this = (Usage.project == tenant) & (Usage.day == today)
            more = QueryString('"cpu_seconds" + {}', seconds)
            updated = await Usage.update({Usage.cpu_seconds: more}).where(this).returning(Usage.id)
            if not updated:
                await Usage(project=tenant, day=today, cpu_seconds=seconds).save()
        totals = await self._totals(Usage.project.is_in(list(added))) if added else {}
        day, blocked = self._known_blocked
        known = blocked if day == today else frozenset()
        if any(totals[t] > self.cpu_seconds_per_day and t not in known for t in added):
            await self.notifier.bump()

    async def _totals(self, where: Any = None) -> dict[str, float]:
        """Today's CPU seconds per tenant, summed over nodes."""
        today = Usage.day == utc_now().date()
        rows = (
            await Usage.select(Usage.project, Sum(Usage.cpu_seconds).as_alias("total"))
            .where(today if where is None else today & where)
            .group_by(Usage.project)
        )
        return {r["project"]: float(r["total"]) for r in rows}

    async def blocked_tenants(self) -> tuple[str, ...]:
        """Tenants past `quotas.cpu_seconds_per_day` today; runners refuse them (429) until UTC midnight."""
        return tuple(
            sorted(t for t, total in (await self._totals()).items() if total > self.cpu_seconds_per_day)
        )

    @property
    def sweep_interval_s(self) -> float:
        """How often the offline sweep runs: a silent node leaves the node feed at most this long
        after `offline_after_s`."""
        return min(5.0, self.offline_after_s / 4)

    async def sweep_offline(self) -> list[str]:
        """Marks nodes silent for longer than `offline_after_s` offline; they get no new deployments
        and leave the node feed. One statement flips and returns them, so with several replicas
        sweeping, each transition is logged by exactly one, once, with the node's last heartbeat.

        A replica sweeps only once it has itself been up for `offline_after_s`: after a control
        plane outage, runners back off for up to a minute before they beat again, and marking the
        whole fleet offline meanwhile would empty every load balancer following the feed."""
        flipped = await self._flip_silent() if self._clock() - self._started >= self.offline_after_s else []
        self.state_counts = await count_states()
        return flipped

    async def _flip_silent(self) -> list[str]:
        now = utc_now()
        cutoff = now - dt.timedelta(seconds=self.offline_after_s)
        flipped = (
            await Node.update({Node.status: "offline"})
            .where((Node.status == "online") & (Node.last_heartbeat < cutoff))
            .returning(Node.node_id, Node.last_heartbeat)
        )
        for row in sorted(flipped, key=lambda r: r["node_id"]):
            last = row["last_heartbeat"]
            log.warning(
                "node %s offline: last heartbeat %s, %.1fs ago (heartbeat.offline_after_s = %s)",
                row["node_id"],
                last.isoformat(),
                (now - last).total_seconds(),
                self.offline_after_s,
                extra={"node_id": row["node_id"], "last_heartbeat": last.isoformat()},
            )
        return [r["node_id"] for r in flipped]

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.sweep_offline()
            except Exception:
                log.exception("offline sweep failed")

    async def flush_liveness(self) -> None:
        """Writes the batched liveness. If that fails it is retried with the next batch, and every
        node's row is read again on its next beat (a sweep may have marked it offline meanwhile)."""
        try:
            await self._alive.flush()
        except Exception:
            self._seen.forget()
            log.exception("writing batched heartbeats failed; retrying with the next batch")

    async def reverify(self) -> None:
        """Checks what this replica trusts about nodes against the database (see `liveness`)."""
        try:
            stale = await reverify(self._seen)
        except Exception:
            log.exception("checking node rows failed; retrying next period")
        else:
            if stale:
                log.info("%d nodes changed elsewhere; their next heartbeats are written through", stale)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush_liveness()
            await self.reverify()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The offline sweep and the liveness flusher; the last batch is written on the way out."""
        self._started = self._clock()
        self.state_counts = await count_states()
        tasks = [
            asyncio.create_task(self.sweep_forever(), name="offline-sweep"),
            asyncio.create_task(self._flush_forever(), name="liveness-flush"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.flush_liveness()

    async def list_nodes(self) -> list[dict[str, Any]]:
        nodes = await Node.select().order_by(Node.node_id).output(load_json=True)
        states = await NodeDeployment.select().order_by(NodeDeployment.function_id)
        by_node: dict[str, list[dict[str, Any]]] = {}
        for s in states:
            by_node.setdefault(s["node_id"], []).append(
                {
                    "function_id": s["function_id"],
                    "version": s["version"],
                    "state": s["state"],
                    "error": s["error"],
                }
            )
        return [
            {
                "node_id": n["node_id"],
                "labels": n["labels"] or {},
                "status": n["status"],
                "last_heartbeat": n["last_heartbeat"].isoformat(),
                "cpu_percent": n["cpu_percent"],
                "mem_bytes": n["mem_bytes"],
                "deployments": by_node.get(n["node_id"], []),
            }
            for n in nodes
        ]


def _check_urls(beat: Heartbeat) -> None:
    """A 422 for an advertised URL that fits the protocol's pattern but that the node feed could not
    turn into a `host:port` target."""
    for key in ("public_url", "metrics_url"):
        value = getattr(beat, key)
        try:
            if value:
                host_port(value)
        except AddressError as exc:
            raise ApiError(422, "bad_url", f"{key} {value[:200]!r}: {exc}") from None
