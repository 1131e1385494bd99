"""The route ownership check on SQLite holds no database lock while it runs: a heartbeat's write
in the middle of it goes through at once instead of waiting for "database is locked"."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from edgehost.controlplane import route_ownership as ownership_module
from edgehost.controlplane.deployments import Deployments
from edgehost.controlplane.notify import Notifier
from edgehost.controlplane.schemas import RouteIn
from edgehost.db.engine import close_database, open_database
from edgehost.db.tables import Function, Node, Project, Route
from edgehost.errors import ApiError
from edgehost.routes import RoutePattern


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "edgefn.db"
    engine = await open_database(f"sqlite:///{path}")
    try:
        yield path
    finally:
        await close_database(engine)


async def test_a_heartbeat_writes_while_routes_are_checked(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = Notifier()
    await notifier.start()
    deployments = Deployments(None, notifier, url_ttl_s=900, max_routes_per_project=1000)  # type: ignore[arg-type]
    ids = {}
    for name in ("held", "mine"):
        project = Project(name=name)
        await project.save()
        await Function(project=project.id, name="f", function_id=f"{name}.f").save()
        ids[name] = {"id": project.id, "name": name}
    await Node(node_id="n1").save()
    assert await deployments.replace_routes(ids["held"], [RouteIn(path="/held", function="f")], "x") == 1

    writes: list[str] = []
    real = ownership_module.first_overlap

    def check_with_a_write_meanwhile(
        mine: Sequence[RoutePattern], theirs: Sequence[RoutePattern]
    ) -> tuple[RoutePattern, RoutePattern] | None:
        # What a heartbeat does while the check runs (in its thread): write, without waiting.
        with sqlite3.connect(database, timeout=0) as connection:
            try:
                connection.execute("UPDATE edgefn_node SET cpu_percent = 42 WHERE node_id = 'n1'")
                connection.commit()
                writes.append("written")
            except sqlite3.OperationalError as exc:
                writes.append(str(exc))
        return real(mine, theirs)

    monkeypatch.setattr(ownership_module, "first_overlap", check_with_a_write_meanwhile)
    try:
        assert await deployments.replace_routes(ids["mine"], [RouteIn(path="/mine", function="f")], "x") == 1
    finally:
        await notifier.stop()
    assert writes == ["written"]
    assert (await Node.select(Node.cpu_percent).first())["cpu_percent"] == 42  # type: ignore[index]
    assert {r["path"] for r in await Route.select(Route.path)} == {"/held", "/mine"}


async def test_two_projects_claiming_one_host_at_once_one_wins(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the check outside the write transaction, replacements still go one at a time: two
    checks never run together (each waits up to a second for the other to join it)."""
    meet = threading.Barrier(2, timeout=1)
    real = ownership_module.first_overlap

    def meeting_check(
        mine: Sequence[RoutePattern], theirs: Sequence[RoutePattern]
    ) -> tuple[RoutePattern, RoutePattern] | None:
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait()
        return real(mine, theirs)

    monkeypatch.setattr(ownership_module, "first_overlap", meeting_check)
    notifier = Notifier()
    await notifier.start()
    deployments = Deployments(None, notifier, url_ttl_s=900, max_routes_per_project=1000)  # type: ignore[arg-type]
    projects = []
    for name in ("one", "two"):
        project = Project(name=name)
        await project.save()
        await Function(project=project.id, name="f", function_id=f"{name}.f").save()
        projects.append({"id": project.id, "name": name})
    claim = [RouteIn(host="contested.example.com", path="/", function="f")]
    try:
        results = await asyncio.gather(
            *(deployments.replace_routes(p, claim, "x") for p in projects), return_exceptions=True
        )
    finally:
        await notifier.stop()
    assert sorted(type(r).__name__ for r in results) == ["ApiError", "int"], results
    assert next(r for r in results if isinstance(r, ApiError)).error == "host_taken"
    assert len(await Route.select(Route.id)) == 1
