"""The online-node feed: which nodes load balancers, DNS and Prometheus should send to, and drains.

A node's feed state joins two facts kept apart in its row: liveness (`status`, which heartbeats and
the offline sweep write) and the operator's `draining` flag (which only `drain`/`undrain` write).
An offline node is `offline` whether drained or not; a drained node stays drained across restarts
until undrained, so a runner restarted for maintenance does not rejoin the feed on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Literal

import msgspec
from piccolo.query.functions.aggregate import Count

from edgehost.addresses import AddressError, host_port
from edgehost.db.tables import Node, NodeDeployment
from edgehost.selectors import Selector

State = Literal["online", "offline", "draining"]
STATES: tuple[State, ...] = ("online", "offline", "draining")
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")  # Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*


class Serving(msgspec.Struct, kw_only=True):
    """One function version as the node last reported it."""

    function_id: str
    version: int
    state: str  # cached | fetching | error
    error: str = ""


class NodeInfo(msgspec.Struct, kw_only=True):
    """A node of the feed. `state`: online (in the feed), draining (alive, left out by an
    operator), offline (silent for `heartbeat.offline_after_s`)."""

    node_id: str
    labels: dict[str, str]
    state: State
    last_heartbeat: dt.datetime
    public_url: str  # "" from runners that predate it: such nodes are never a target
    metrics_url: str
    draining: bool
    cpu_percent: float
    mem_bytes: int
    deployments: list[Serving] = []


class NodeList(msgspec.Struct):
    nodes: list[NodeInfo]


class TargetGroup(msgspec.Struct):
    """One entry of Prometheus `http_sd_config` JSON: targets and the labels they share."""

    targets: list[str]
    labels: dict[str, str]


def state_of(status: str, draining: bool) -> State:
    if status != "online":
        return "offline"
    return "draining" if draining else "online"


def _where(state: State | None, node_id: str | None) -> Any:
    where = Node.node_id == node_id if node_id is not None else Node.id.is_not_null()
    if state == "offline":
        return where & (Node.status != "online")
    if state is not None:
        return where & (Node.status == "online") & Node.draining.eq(state == "draining")
    return where


async def list_nodes(
    state: State | None = None,
    selector: Selector | None = None,
    *,
    node_id: str | None = None,
    deployments: bool = True,
) -> list[NodeInfo]:
    """Nodes by id, those in `state` (all when None) whose labels `selector` matches (only `node_id`
    when given), with what each serves unless `deployments` is False (target lists need not)."""
    query = Node.select(
        Node.node_id,
        Node.labels,
        Node.status,
        Node.draining,
        Node.last_heartbeat,
        Node.public_url,
        Node.metrics_url,
        Node.cpu_percent,
        Node.mem_bytes,
    ).order_by(Node.node_id)
    rows = await query.where(_where(state, node_id)).output(load_json=True)
    if selector is not None:
        rows = [r for r in rows if selector.matches(r["labels"] or {})]
    serving: dict[str, list[Serving]] = {}
    if deployments and rows:
        found = (
            await NodeDeployment.select()
            .where(NodeDeployment.node_id.is_in([r["node_id"] for r in rows]))
            .order_by(NodeDeployment.function_id)
            .order_by(NodeDeployment.version)
        )
        for d in found:
            serving.setdefault(d["node_id"], []).append(
                Serving(
                    function_id=d["function_id"], version=d["version"], state=d["state"], error=d["error"]
                )
            )
    return [
        NodeInfo(
            node_id=r["node_id"],
            labels=r["labels"] or {},
            state=state_of(r["status"], r["draining"]),
            last_heartbeat=r["last_heartbeat"],
            public_url=r["public_url"],
            metrics_url=r["metrics_url"],
            draining=bool(r["draining"]),
            cpu_percent=r["cpu_percent"],
            mem_bytes=r["mem_bytes"],
            deployments=serving.get(r["node_id"], []),
        )
        for r in rows
    ]


async def count_states() -> dict[str, int]:
    """Nodes per feed state, every state present (zero when none): the `edgefn_nodes` gauge."""
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    rows = await Node.select(Node.status, Node.draining, Count(alias="n")).group_by(
        Node.status, Node.draining
    )
    for row in rows:
        counts[state_of(row["status"], row["draining"])] += row["n"]
    return counts


async def set_draining(node_id: str, draining: bool) -> NodeInfo | None:
    """Drains or undrains a node; its row after that, or None if no such node ever checked in."""
    updated = await Node.update({Node.draining: draining}).where(Node.node_id == node_id).returning(Node.id)
    if not updated:
        return None
    rows = await list_nodes(node_id=node_id)
    return rows[0] if rows else None


def targets(nodes: Iterable[NodeInfo]) -> list[str]:
    """`host:port` of each node's ingress, in node order; nodes that reported no URL are left out."""
    return [address for n in nodes if (address := _address(n.public_url))]


def target_lines(nodes: Iterable[NodeInfo]) -> str:
    """The file-based discovery list: one `host:port` a line, each line ending in a newline."""
    return "".join(f"{address}\n" for address in targets(nodes))


def prometheus_groups(nodes: Iterable[NodeInfo]) -> list[TargetGroup]:
    """One target group per node with a metrics URL: its `host:port`, `__scheme__`, a `node_id`
    label, and `__meta_edgefn_*` labels for relabelling (node labels sanitized to Prometheus label
    names as Kubernetes service discovery does: every other character becomes `_`)."""
    groups = []
    for n in nodes:
        address = _address(n.metrics_url)
        if not address:
            continue
        labels = {
            "__scheme__": n.metrics_url.split("://", 1)[0],
            "node_id": n.node_id,
            "__meta_edgefn_node_id": n.node_id,
            "__meta_edgefn_state": n.state,
            "__meta_edgefn_public_url": n.public_url,
        }
        for key, value in sorted(n.labels.items()):
            labels[f"__meta_edgefn_label_{_LABEL_NAME.sub('_', key)}"] = value
        groups.append(TargetGroup(targets=[address], labels=labels))
    return groups


def _address(url: str) -> str:
    try:
        return host_port(url) if url else ""
    except AddressError:  # refused on the heartbeat; a row written otherwise is simply no target
        return ""
