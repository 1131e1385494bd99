"""The node feed's queries and formats, in process on both engines: states, selectors, target lists."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgehost.addresses import AddressError, host_port
from edgehost.controlplane import node_feed
from edgehost.controlplane.node_feed import NodeInfo, prometheus_groups, target_lines
from edgehost.db.engine import close_database, open_database
from edgehost.db.tables import Node
from edgehost.protocol import CachedFunction
from edgehost.selectors import compile_selector
from tests.controlplane.test_heartbeat_path import Replica, database_url, replica


@pytest.fixture(params=["sqlite", "postgresql"])
async def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replica]:
    """Four nodes: tokyo-1 online, tokyo-2 drained, osaka-1 offline, old-1 online without URLs."""
    engine = await open_database(database_url(request.param, tmp_path, request))
    r = await replica()
    try:
        for node_id, region in (("tokyo-1", "tokyo"), ("tokyo-2", "tokyo"), ("osaka-1", "osaka")):
            await r.beat(
                node_id,
                CachedFunction(function_id="demo.hello", version=1, state="cached"),
                labels={"region": region, "topology/zone": "a"},
                public_url=f"http://{node_id}.internal:8080",
                metrics_url=f"https://{node_id}.internal:9090",
            )
        await r.beat("old-1", labels={"region": "tokyo"})
        await Node.update({Node.draining: True}).where(Node.node_id == "tokyo-2")
        await Node.update({Node.status: "offline"}).where(Node.node_id == "osaka-1")
        yield r
    finally:
        await r.notifier.stop()
        await close_database(engine)


async def ids(state: node_feed.State | None = None, selector: str | None = None) -> list[str]:
    found = await node_feed.list_nodes(state, compile_selector(selector) if selector else None)
    return [n.node_id for n in found]


async def test_states_join_liveness_and_the_drain(fleet: Replica) -> None:
    assert await ids() == ["old-1", "osaka-1", "tokyo-1", "tokyo-2"]
    assert await ids("online") == ["old-1", "tokyo-1"]
    assert await ids("draining") == ["tokyo-2"]
    assert await ids("offline") == ["osaka-1"]
    await Node.update({Node.draining: True}).where(Node.node_id == "osaka-1")
    assert await ids("offline") == ["osaka-1"]  # drained and silent: offline wins
    assert await node_feed.count_states() == {"online": 2, "offline": 1, "draining": 1}


async def test_selectors_are_the_deployments_cel(fleet: Replica) -> None:
    assert await ids(None, "region == 'tokyo'") == ["old-1", "tokyo-1", "tokyo-2"]
    assert await ids("online", "region == 'tokyo' && labels['topology/zone'] == 'a'") == ["tokyo-1"]
    assert await ids(None, "gpu == 'yes'") == []  # a label nobody has matches nobody


async def test_a_node_lists_what_it_serves_and_where_it_is(fleet: Replica) -> None:
    (node,) = await node_feed.list_nodes("online", compile_selector("labels['topology/zone'] == 'a'"))
    assert node.public_url == "http://tokyo-1.internal:8080"
    assert [(d.function_id, d.version, d.state) for d in node.deployments] == [("demo.hello", 1, "cached")]
    assert node.last_heartbeat.tzinfo is not None
    assert node.last_heartbeat > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


async def test_drain_and_undrain(fleet: Replica) -> None:
    drained = await node_feed.set_draining("tokyo-1", True)
    assert drained is not None and drained.state == "draining" and drained.draining
    assert await ids("online") == ["old-1"]
    undrained = await node_feed.set_draining("tokyo-1", False)
    assert undrained is not None and undrained.state == "online"
    assert await node_feed.set_draining("nowhere", True) is None


async def test_target_lists_leave_out_nodes_without_urls(fleet: Replica) -> None:
    online = await node_feed.list_nodes("online")
    assert target_lines(online) == "tokyo-1.internal:8080\n"
    groups = prometheus_groups(await node_feed.list_nodes())
    assert [g.targets for g in groups] == [
        ["osaka-1.internal:9090"],
        ["tokyo-1.internal:9090"],
        ["tokyo-2.internal:9090"],
    ]
    labels = groups[1].labels
    assert labels["__scheme__"] == "https" and labels["node_id"] == "tokyo-1"
    assert labels["__meta_edgefn_label_topology_zone"] == "a"
    assert labels["__meta_edgefn_label_region"] == "tokyo"
    assert labels["__meta_edgefn_state"] == "online"


def node(public_url: str) -> NodeInfo:
    return NodeInfo(
        node_id="n",
        labels={},
        state="online",
        last_heartbeat=dt.datetime.now(dt.UTC),
        public_url=public_url,
        metrics_url="",
        draining=False,
        cpu_percent=0.0,
        mem_bytes=0,
    )


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://10.0.0.1:8080", "10.0.0.1:8080"),
        ("http://10.0.0.1", "10.0.0.1:80"),
        ("https://edge.example.com/", "edge.example.com:443"),
        ("https://EDGE.example.com:8443/base?x=1", "edge.example.com:8443"),
        ("http://[2001:db8::1]:8080", "[2001:db8::1]:8080"),
        ("http://[::1]", "[::1]:80"),
    ],
)
def test_host_port_of_a_url(url: str, target: str) -> None:
    assert host_port(url) == target
    assert target_lines([node(url)]) == f"{target}\n"


def test_every_target_line_is_one_host_and_port() -> None:
    """Random hosts, ports and paths: each URL yields one line that HAProxy, nginx and Prometheus
    read as `host:port`, or is refused; never a line with a path, a space or a second colon."""
    rng = random.Random(20)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-.:/[]@?# %\t"
    for _ in range(2000):
        host = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        url = f"{rng.choice(['http', 'https', 'ftp', ''])}://{host}:{rng.randint(-5, 70000)}/{host}"
        try:
            target = host_port(url)
        except AddressError:
            assert target_lines([node(url)]) == ""
            continue
        name, _, port = target.rpartition(":")
        assert 0 <= int(port) <= 65535
        assert re.fullmatch(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]", name), url
