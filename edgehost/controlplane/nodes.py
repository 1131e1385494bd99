"""Nodes: heartbeats, inventories, reports, the offline sweep and the daily CPU quota."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Sum
from piccolo.querystring import QueryString

from edgehost.controlplane.deployments import Deployments
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
    ) -> None:
        self.deployments = deployments
        self.notifier = notifier
        self.interval_s = interval_s
        self.offline_after_s = offline_after_s
        self.cpu_seconds_per_day = cpu_seconds_per_day

    async def heartbeat(self, node_id: str, beat: Heartbeat) -> HeartbeatReply:
        """Records the node's health and inventory, then answers with what it should run."""
        _check_fields(beat.functions)
        now = utc_now()
        inventory = msgspec.to_builtins(beat.functions)
        node = await Node.objects().where(Node.node_id == node_id).first()
        came_back = node is None or node.status != "online"
        if node is None:
            node = Node(node_id=node_id)
        node.labels = dict(beat.labels)
        node.status = "online"
        node.last_heartbeat = now
        node.cpu_percent = beat.cpu_percent
        node.mem_bytes = beat.mem_bytes
        node.inventory = inventory
        await node.save()
        for item in beat.functions:
            await self._record_state(node_id, item.function_id, item.version, item.state, item.error)
        if beat.cpu_usage:
            await self._add_usage(beat.cpu_usage)
        if came_back:
            log.info("node %s online with labels %s", node_id, beat.labels)
        desired = await self.desired(node_id, dict(beat.labels))
        return HeartbeatReply(
            desired=desired,
            instructions=instructions_for(desired, beat.functions),
            heartbeat_interval_s=self.interval_s,
        )

    async def desired(self, node_id: str, labels: dict[str, str] | None = None) -> DesiredState:
        if labels is None:
            row = await Node.select(Node.labels).where(Node.node_id == node_id).first().output(load_json=True)
            labels = (row or {}).get("labels") or {}
        return await self.deployments.desired_for(
            labels, revision=await self.notifier.current(), blocked=await self.blocked_tenants()
        )

    async def _record_state(
        self, node_id: str, function_id: str, version: int, state: str, error: str
    ) -> None:
        where = (
            (NodeDeployment.node_id == node_id)
            & (NodeDeployment.function_id == function_id)
            & (NodeDeployment.version == version)
        )
        row = await NodeDeployment.objects().where(where).first()
        if row is None:
            row = NodeDeployment(node_id=node_id, function_id=function_id, version=version)
        elif row.state == state and row.error == error:
            return
        row.state, row.error, row.updated_at = state, error, utc_now()
        await row.save()

    async def report(self, node_id: str, report: Report) -> None:
        """Stores a runner's deployment report; errors are kept and logged with full context for audit."""
        _check_fields((report,))
        await self._record_state(node_id, report.function_id, report.version, report.state, report.error)
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
        """Adds each tenant's guest CPU seconds to today's total; crossing the quota wakes every node.

        The update is one atomic statement per tenant and totals are sums, so heartbeats of many
        nodes racing each other (even inserting twin rows) never lose seconds.
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
        limit = self.cpu_seconds_per_day
        if any(totals[t] - added[t] <= limit < totals[t] for t in added):
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

    async def sweep_offline(self) -> list[str]:
        """Marks nodes silent for longer than `offline_after_s` offline; they get no new deployments."""
        cutoff = utc_now() - dt.timedelta(seconds=self.offline_after_s)
        stale = await Node.select(Node.node_id).where(
            (Node.status == "online") & (Node.last_heartbeat < cutoff)
        )
        ids = [r["node_id"] for r in stale]
        if ids:
            await Node.update({Node.status: "offline"}).where(Node.node_id.is_in(ids))
            log.warning("nodes offline after %ss of silence: %s", self.offline_after_s, ", ".join(ids))
        return ids

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.offline_after_s / 4))
            try:
                await self.sweep_offline()
            except Exception:
                log.exception("offline sweep failed")

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


def _check_fields(items: Sequence[CachedFunction | Report]) -> None:
    """A 400 for values the tables cannot hold, before anything is written."""
    for item in items:
        if len(item.function_id) > 128 or len(item.state) > 16:
            raise ApiError(400, "bad_request", f"function_id or state too long in {item.function_id[:128]!r}")
