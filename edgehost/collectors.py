"""Prometheus collectors read at scrape time, and the core's own (`edgehost_metric_collectors`).

Each component exports the state it already keeps in memory (sync revision, deployment states,
nodes by feed state) through the hook, as the built-in plugins do theirs (cache size, pool
counters, running executions), so nothing costs anything per request and no exporter reads
another component's internals. The metrics plugin serves what every plugin returns.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgehost.context import Services
from edgehost.controlplane.nodes import Nodes
from edgehost.runner.agent import SyncAgent
from edgehost.runner.node import NodeState


def label_value(value: str | None) -> str:
    """Label values come from routes, guests and third-party hooks; keep them printable and bounded."""
    return value[:128].encode("ascii", "replace").decode() if value else "unknown"


class ScrapeTime(Collector):
    """Metric families computed by `families` at each scrape (none when it yields none)."""

    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families()


def fleet_families(nodes: Nodes) -> Iterator[Metric]:
    if nodes.state_counts:
        family = GaugeMetricFamily(
            "edgefn_nodes",
            "Nodes known to the control plane by feed state, as of its last offline sweep.",
            labels=["state"],
        )
        for state, count in sorted(nodes.state_counts.items()):
            family.add_metric([state], count)
        yield family


def sync_families(agent: SyncAgent) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "edgefn_sync_connected",
        "1 while the last heartbeat reached the control plane.",
        value=float(agent.connected.is_set()),
    )
    yield GaugeMetricFamily(
        "edgefn_sync_revision", "Desired-state revision the runner applied.", value=agent.revision
    )


def node_families(node: NodeState) -> Iterator[Metric]:
    states = GaugeMetricFamily(
        "edgefn_deployments", "Function versions on this runner, by state.", labels=["state"]
    )
    for state, count in sorted(Tally(s.state for s in node.states.values()).items()):
        states.add_metric([label_value(state)], count)
    yield states
    yield GaugeMetricFamily(
        "edgefn_quota_blocked_tenants",
        "Tenants the control plane blocked for their daily CPU quota.",
        value=len(node.snapshot.blocked),
    )


def core_collectors(services: Services) -> list[Collector]:
    """The control plane's fleet, the runner's sync agent and its node state, where this process has them."""
    collectors: list[Collector] = []
    if (nodes := services.get(Nodes)) is not None:
        collectors.append(ScrapeTime(lambda: fleet_families(nodes)))
    if (agent := services.get(SyncAgent)) is not None:
        collectors.append(ScrapeTime(lambda: sync_families(agent)))
    if (node := services.get(NodeState)) is not None:
        collectors.append(ScrapeTime(lambda: node_families(node)))
    return collectors
