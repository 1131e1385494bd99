"""The cheap heartbeat, in process on real databases: what is written at once, what is batched, and
when the cached desired state is recomputed (including after a deploy through another replica)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edgehost.controlplane.deployments import Deployments
from edgehost.controlplane.liveness import VERIFY_AFTER_S
from edgehost.controlplane.nodes import Nodes
from edgehost.controlplane.notify import Notifier
from edgehost.controlplane.schemas import DeploymentIn
from edgehost.db.engine import close_database, open_database
from edgehost.db.tables import Function, FunctionVersion, Node, NodeDeployment, Project, Usage
from edgehost.errors import ApiError
from edgehost.protocol import CachedFunction, Heartbeat, HeartbeatReply
from tests.services import PostgresServer

OFFLINE_AFTER_S = 120.0
QUOTA = 10.0


class Store:
    """The artifact store as far as desired states need it."""

    async def download_url(self, key: str, *, ttl_s: int) -> str:
        return f"https://store/{key}"


@dataclass
class Replica:
    """One CP replica's services; several share one database as CP processes would."""

    nodes: Nodes
    deployments: Deployments
    notifier: Notifier
    now: list[float] = field(default_factory=lambda: [1000.0])
    computed: list[dict[str, str]] = field(default_factory=list)

    async def beat(self, node_id: str, *functions: CachedFunction, **fields: Any) -> HeartbeatReply:
        labels = fields.pop("labels", {"region": "test"})
        return await self.nodes.heartbeat(
            node_id, Heartbeat(node_id=node_id, labels=labels, functions=functions, **fields)
        )


async def replica() -> Replica:
    notifier = Notifier()
    await notifier.start()
    deployments = Deployments(Store(), notifier, url_ttl_s=900, max_routes_per_project=1000)  # type: ignore[arg-type]
    now = [1000.0]
    nodes = Nodes(
        deployments,
        notifier,
        interval_s=1.0,
        offline_after_s=OFFLINE_AFTER_S,
        cpu_seconds_per_day=QUOTA,
        clock=lambda: now[0],
    )
    r = Replica(nodes, deployments, notifier, now)
    real = deployments.desired_for

    async def counted(labels: dict[str, str], **kw: Any) -> Any:
        r.computed.append(labels)
        return await real(labels, **kw)

    deployments.desired_for = counted  # type: ignore[method-assign]
    return r


def database_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'edgefn.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
async def cp(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Replica]:
    engine = await open_database(database_url(request.param, tmp_path, request))
    r = await replica()
    try:
        yield r
    finally:
        await r.notifier.stop()
        await close_database(engine)


async def node_row(node_id: str) -> dict[str, Any]:
    row = await Node.select().where(Node.node_id == node_id).first()
    assert row is not None
    return row


async def snapshot(node_id: str) -> tuple[object, ...]:
    row = await node_row(node_id)
    return row["labels"], row["status"], await states(node_id)


async def states(node_id: str) -> dict[tuple[str, int], str]:
    rows = await NodeDeployment.select().where(NodeDeployment.node_id == node_id)
    return {(r["function_id"], r["version"]): r["state"] for r in rows}


async def test_a_changed_inventory_state_is_written_at_once(cp: Replica) -> None:
    await cp.beat("n1", CachedFunction(function_id="p.f", version=1, state="fetching"))
    assert await states("n1") == {("p.f", 1): "fetching"}
    await cp.beat("n1", CachedFunction(function_id="p.f", version=1, state="cached"))
    assert await states("n1") == {("p.f", 1): "cached"}
    assert (await node_row("n1"))["inventory"]  # the inventory column follows too


async def test_liveness_of_an_unchanged_beat_is_batched_then_flushed(cp: Replica) -> None:
    await cp.beat("n1", cpu_percent=1.0, mem_bytes=1)
    first = await node_row("n1")
    await cp.beat("n1", cpu_percent=55.0, mem_bytes=4 << 30)
    assert (await node_row("n1"))["cpu_percent"] == 1.0  # not written yet: it waits for the batch
    await cp.nodes.flush_liveness()
    row = await node_row("n1")
    assert (row["cpu_percent"], row["mem_bytes"]) == (55.0, 4 << 30)
    assert row["last_heartbeat"] > first["last_heartbeat"]


async def test_a_batch_never_moves_last_heartbeat_backwards(cp: Replica) -> None:
    await cp.beat("n1")
    await cp.beat("n1", cpu_percent=9.0)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # written meanwhile by another replica
    await Node.update({Node.last_heartbeat: later, Node.cpu_percent: 2.0}).where(Node.node_id == "n1")
    await cp.nodes.flush_liveness()
    row = await node_row("n1")
    assert row["last_heartbeat"] == later and row["cpu_percent"] == 2.0


async def test_the_last_batch_is_written_on_shutdown(cp: Replica) -> None:
    async with cp.nodes.running():
        await cp.beat("n1")
        await cp.beat("n1", cpu_percent=77.0)
    assert (await node_row("n1"))["cpu_percent"] == 77.0


async def fail_one_flush(cp: Replica, monkeypatch: pytest.MonkeyPatch) -> None:
    """n1 beats twice (the second only batched), then the batch's write fails once."""
    await cp.beat("n1")
    await cp.beat("n1", cpu_percent=5.0)

    async def broken(_pending: object) -> None:
        raise ConnectionError("database gone")

    monkeypatch.setattr("edgehost.controlplane.liveness._write", broken)
    await cp.nodes.flush_liveness()  # logged, not raised
    monkeypatch.undo()


async def test_a_failed_flush_is_retried_and_the_rows_are_read_again(
    cp: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fail_one_flush(cp, monkeypatch)
    await Node.update({Node.status: "offline"}).where(Node.node_id == "n1")  # a sweep meanwhile
    await cp.beat("n1", cpu_percent=6.0)
    assert (await node_row("n1"))["status"] == "online"  # re-read, so written through at once
    await cp.nodes.flush_liveness()
    assert (await node_row("n1"))["cpu_percent"] == 6.0


async def test_a_failed_flush_keeps_its_batch_for_the_next(
    cp: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fail_one_flush(cp, monkeypatch)
    await cp.nodes.flush_liveness()
    assert (await node_row("n1"))["cpu_percent"] == 5.0


async def test_re_verifying_an_unchanged_node_writes_nothing_at_once(cp: Replica) -> None:
    await cp.beat("n1", CachedFunction(function_id="p.f", version=1, state="cached"), cpu_percent=1.0)
    cp.now[0] += VERIFY_AFTER_S
    await cp.nodes.reverify()
    await cp.beat("n1", CachedFunction(function_id="p.f", version=1, state="cached"), cpu_percent=2.0)
    assert (await node_row("n1"))["cpu_percent"] == 1.0  # still trusted: batched
    await cp.nodes.flush_liveness()
    assert (await node_row("n1"))["cpu_percent"] == 2.0


async def test_a_node_back_from_offline_is_online_at_once(cp: Replica) -> None:
    await cp.beat("n1")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=OFFLINE_AFTER_S * 2)
    await Node.update({Node.last_heartbeat: long_ago}).where(Node.node_id == "n1")
    cp.now[0] += OFFLINE_AFTER_S  # the replica has been up long enough to sweep
    assert await cp.nodes.sweep_offline() == ["n1"]
    cp.now[0] += OFFLINE_AFTER_S / 2  # silent here that long: the sweep may have marked it offline
    await cp.beat("n1")
    assert (await node_row("n1"))["status"] == "online"


async def test_changed_labels_are_written_at_once(cp: Replica) -> None:
    await cp.beat("n1")
    await cp.beat("n1", labels={"region": "moved"})
    assert (await node_row("n1"))["labels"] in ({"region": "moved"}, '{"region": "moved"}')


@pytest.mark.parametrize("elsewhere", ["labels", "state", "offline"])
async def test_another_replicas_write_is_masked_for_at_most_the_verify_bound(
    cp: Replica, elsewhere: str
) -> None:
    item = CachedFunction(function_id="p.f", version=1, state="cached")
    await cp.beat("n1", item, labels={"region": "a"})
    if elsewhere == "labels":
        await Node.update({Node.labels: {"region": "b"}}).where(Node.node_id == "n1")
    elif elsewhere == "state":
        await NodeDeployment.update({NodeDeployment.state: "error"}).where(NodeDeployment.node_id == "n1")
    else:
        await Node.update({Node.status: "offline"}).where(Node.node_id == "n1")
    before = await snapshot("n1")
    await cp.nodes.reverify()  # not due yet: this replica still trusts what it wrote, masking it
    await cp.beat("n1", item, labels={"region": "a"})
    assert await snapshot("n1") == before
    cp.now[0] += VERIFY_AFTER_S
    await cp.nodes.reverify()
    await cp.beat("n1", item, labels={"region": "a"})
    row = await node_row("n1")
    assert row["labels"] in ({"region": "a"}, '{"region": "a"}') and row["status"] == "online"
    assert await states("n1") == {("p.f", 1): "cached"}


async def test_the_desired_state_is_computed_once_per_revision_and_labels(cp: Replica) -> None:
    for _ in range(3):
        await cp.beat("n1")
        await cp.beat("n2")
    await cp.beat("n3", labels={"region": "other"})
    assert cp.computed == [{"region": "test"}, {"region": "other"}]
    await cp.notifier.bump()
    await cp.beat("n1")
    assert len(cp.computed) == 3


async def publish(project: str, name: str, version: int) -> dict[str, Any]:
    """A ready version, written as the registry would."""
    row = await Project.select().where(Project.name == project).first()
    if row is None:
        await Project(name=project).save()
        row = await Project.select().where(Project.name == project).first()
    fid = f"{project}.{name}"
    fn = await Function.select().where(Function.function_id == fid).first()
    if fn is None:
        await Function(project=row["id"], name=name, function_id=fid).save()
        fn = await Function.select().where(Function.function_id == fid).first()
    await FunctionVersion(
        function=fn["id"], version=version, state="ready", artifact_key=f"{fid}/{version}.wasm"
    ).save()
    return row


async def test_a_deploy_reaches_the_next_heartbeat(cp: Replica) -> None:
    before = await cp.beat("n1")
    project = await publish("p", "f", 1)
    await cp.deployments.deploy(project, DeploymentIn(function="f", selector="region == 'test'"), "dev")
    after = await cp.beat("n1")
    assert after.desired.revision > before.desired.revision
    assert [(f.function_id, f.version) for f in after.desired.functions] == [("p.f", 1)]


async def test_a_tenant_over_quota_is_blocked_even_if_a_racing_beat_stepped_over_the_crossing(
    cp: Replica,
) -> None:
    await cp.beat("n1", cpu_usage={"t": QUOTA / 2})
    # Another node's usage landed in between, its bump lost (e.g. its replica died).
    await Usage(project="t", day=dt.datetime.now(dt.UTC).date(), cpu_seconds=QUOTA).save()
    reply = await cp.beat("n1", cpu_usage={"t": 0.1})
    assert reply.desired.blocked_tenants == ("t",)


@pytest.fixture
async def pg_replicas(postgres: PostgresServer) -> AsyncIterator[tuple[Replica, Replica]]:
    engine = await open_database(postgres.new_database())
    a, b = await replica(), await replica()
    try:
        yield a, b
    finally:
        await a.notifier.stop()
        await b.notifier.stop()
        await close_database(engine)


async def test_a_deploy_through_another_replica_invalidates_the_cached_desired_state(
    pg_replicas: tuple[Replica, Replica],
) -> None:
    a, b = pg_replicas
    before = await b.beat("n1")
    assert before.desired.functions == ()
    project = await publish("p", "f", 1)
    await a.deployments.deploy(project, DeploymentIn(function="f", selector="true"), "dev")
    # B learns of it by NOTIFY; waiting for that is not a timing assumption, just the delivery.
    assert await b.notifier.wait_beyond(before.desired.revision, 30) > before.desired.revision
    after = await b.beat("n1")
    assert [(f.function_id, f.version) for f in after.desired.functions] == [("p.f", 1)]
    await publish("p", "f", 2)
    await a.deployments.rollback(project, "f", 2, "dev")  # newer, through A again
    await b.notifier.wait_beyond(after.desired.revision, 30)
    assert [f.version for f in (await b.beat("n1")).desired.functions] == [2]
    await a.deployments.undeploy(project, "f")
    await b.notifier.wait_beyond((await a.notifier.revision()) - 1, 30)
    assert (await b.beat("n1")).desired.functions == ()


async def test_changed_urls_are_written_at_once(cp: Replica) -> None:
    await cp.beat("n1", public_url="http://10.0.0.1:8080", metrics_url="http://10.0.0.1:9090")
    await cp.beat("n1", public_url="http://10.0.0.1:8080", metrics_url="http://10.0.0.1:9090")
    await cp.beat("n1", public_url="https://edge-1.example.com", metrics_url="http://10.0.0.1:9090")
    row = await node_row("n1")
    assert (row["public_url"], row["metrics_url"]) == ("https://edge-1.example.com", "http://10.0.0.1:9090")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("public_url", "ftp://10.0.0.1"),
        ("public_url", "http://"),
        ("public_url", "http://host:99999"),
        ("public_url", "http://a b:80"),
        ("metrics_url", "10.0.0.1:9090"),
        ("metrics_url", "http://" + "a" * 2048),
    ],
)
async def test_a_url_no_target_can_be_made_of_is_refused(cp: Replica, field: str, value: str) -> None:
    """Checked on every beat written through, whatever got past the wire format's pattern."""
    with pytest.raises(ApiError) as refused:
        await cp.beat("n1", **{field: value})
    assert refused.value.status == 422 and field in str(refused.value.detail)
    assert await Node.count() == 0  # nothing written


async def test_a_drain_survives_every_write_a_heartbeat_makes(cp: Replica) -> None:
    await cp.beat("n1")
    await Node.update({Node.draining: True}).where(Node.node_id == "n1")  # `edgefn drain`
    await cp.beat("n1", labels={"region": "moved"})  # written through
    cp.nodes._seen.forget()
    await Node.update({Node.status: "offline"}).where(Node.node_id == "n1")
    await cp.beat("n1")  # back online, written through
    await cp.beat("n1", cpu_percent=3.0)
    await cp.nodes.flush_liveness()  # batched
    row = await node_row("n1")
    assert row["status"] == "online" and row["draining"] is True


async def test_the_offline_transition_is_logged_once_per_node_with_its_last_heartbeat(
    cp: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    for node_id in ("n1", "n2", "n3"):
        await cp.beat(node_id)
    silent_since = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    await Node.update({Node.last_heartbeat: silent_since}).where(Node.node_id.is_in(["n1", "n2"]))
    assert await cp.nodes.sweep_offline() == []  # up for less than offline_after_s: no verdict yet
    assert cp.nodes.state_counts == {"online": 3, "offline": 0, "draining": 0}  # but counted
    cp.now[0] += OFFLINE_AFTER_S
    with caplog.at_level(logging.WARNING, logger="edgefn.cp.nodes"):
        assert sorted(await cp.nodes.sweep_offline()) == ["n1", "n2"]
        assert await cp.nodes.sweep_offline() == []  # already offline: nothing flips, nothing logged
    lines = [r.getMessage() for r in caplog.records if "offline" in r.getMessage()]
    assert len(lines) == 2
    for node_id, line in zip(("n1", "n2"), sorted(lines), strict=True):
        assert line.startswith(f"node {node_id} offline: last heartbeat 2026-01-02T03:04:05+00:00")
    assert cp.nodes.state_counts == {"online": 1, "offline": 2, "draining": 0}
