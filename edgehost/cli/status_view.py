"""Rich tables for `edgefn status` and `edgefn nodes`: what runs where, and why not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

STATE_STYLE = {
    "ready": "green",
    "cached": "green",
    "online": "green",
    "error": "red",
    "rejected": "red",
    "offline": "red",
}


def _styled(state: str) -> str:
    style = STATE_STYLE.get(state, "yellow")
    return f"[{style}]{state}[/{style}]"


def _ago(stamp: str, now: datetime) -> str:
    """An ISO timestamp as the seconds since it, which is what "is this node alive" needs."""
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return f"{then:%Y-%m-%d %H:%M:%S} ({max(0, int((now - then).total_seconds()))}s ago)"


def functions_table(project: dict[str, Any]) -> Table:
    active = {d["function"]: d for d in project["deployments"]}
    table = Table(title=f"project {project['project']}: functions", title_justify="left")
    for column in ("function", "version", "state", "sha256", "deployed where"):
        table.add_column(column)
    for fn in project["functions"]:
        dep = active.get(fn["name"])
        shares = {s["version"]: s["percent"] for s in dep.get("shares", ())} if dep else {}
        for v in sorted(fn["versions"], key=lambda v: v["version"], reverse=True):
            state = _styled(v["state"]) + (f" ({v['reason']})" if v.get("reason") else "")
            where = ""
            if dep is not None and v["version"] in shares:  # a rollout: this version's share of requests
                where = f"{dep['selector']} ({shares[v['version']]}%)"
            elif dep is not None and not shares and dep["version"] == v["version"]:
                where = dep["selector"]
            table.add_row(fn["name"], f"v{v['version']}", state, v["sha256"][:12], where)
    return table


def node_deployments_table(nodes: list[dict[str, Any]]) -> Table:
    table = Table(title="deployments per node", title_justify="left")
    for column in ("node", "function", "version", "state", "error"):
        table.add_column(column)
    for node in nodes:
        for d in node["deployments"]:
            table.add_row(
                node["node_id"], d["function_id"], f"v{d['version']}", _styled(d["state"]), d["error"] or ""
            )
    return table


def nodes_table(nodes: list[dict[str, Any]], now: datetime) -> Table:
    table = Table(title="nodes", title_justify="left")
    for column in ("node", "status", "labels", "last heartbeat"):
        table.add_column(column)
    for node in nodes:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(node["labels"].items()))
        table.add_row(node["node_id"], _styled(node["status"]), labels, _ago(node["last_heartbeat"], now))
    return table


def feed_table(nodes: list[dict[str, Any]], now: datetime) -> Table:
    """`edgefn nodes`: the node feed as an operator reads it."""
    table = Table(title="nodes", title_justify="left")
    for column in ("node", "state", "public url", "labels", "last heartbeat", "functions"):
        table.add_column(column, no_wrap=column in ("node", "state"))  # what scripts grep for stays whole
    for node in nodes:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(node["labels"].items()))
        serving = sum(d["state"] == "cached" for d in node["deployments"])
        table.add_row(
            node["node_id"],
            _styled(node["state"]),
            node["public_url"] or "(not reported)",
            labels,
            _ago(node["last_heartbeat"], now),
            str(serving),
        )
    return table


def print_status(doc: dict[str, Any], console: Console) -> None:
    if not doc["projects"]:
        console.print("no projects yet: `edgefn deploy` creates one")
    for project in doc["projects"]:
        console.print(functions_table(project))
    now = datetime.now(UTC)
    if doc["nodes"]:
        console.print(node_deployments_table(doc["nodes"]))
        console.print(nodes_table(doc["nodes"], now))
    else:
        console.print("no nodes have checked in")
