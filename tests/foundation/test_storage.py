"""Storage on both engines: SQLite in a temp folder and a real PostgreSQL (the `postgres` fixture).

Piccolo binds one engine per process (`edgehost.db.engine.bind`); every test here opens its own
database through `open_database`, which rebinds, and closes it again, so the engines never mix.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.commands.new import AutoMigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.engine import PostgresEngine
from piccolo.table import Table

from edgehost.db.engine import (
    DatabaseError,
    bind,
    close_database,
    describe_url,
    make_engine,
    migrate,
    open_database,
)
from edgehost.db.piccolo_app import APP_CONFIG
from edgehost.db.tables import (
    TABLES,
    Deployment,
    ErrorReport,
    Function,
    FunctionVersion,
    Membership,
    Node,
    NodeDeployment,
    Project,
    Revision,
    Route,
    Usage,
)
from tests.procs import REPO, control_plane_process, run_cli
from tests.services import PostgresServer, free_port

MIGRATIONS = sorted(p.stem for p in (REPO / "migrations").glob("edgefn_*.py"))
ENGINES = ["sqlite", "postgresql"]


def make_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'edgefn.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each engine."""
    return make_url(request.param, tmp_path, request)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """The same, migrated and bound for this test."""
    engine = await open_database(database_url)
    try:
        yield database_url
    finally:
        await close_database(engine)


async def test_migrations_apply_then_reapply_as_a_no_op(database_url: str) -> None:
    engine = await open_database(database_url)
    try:
        for table in TABLES:
            assert await table.table_exists(), table._meta.tablename
        applied = await Migration.select(Migration.name).where(Migration.app_name == "edgefn")
        assert len(applied) == len(MIGRATIONS)
        await Project.insert(Project(name="kept"))
        message = await migrate()  # everything already applied
        assert "no migrations" in message.lower()
    finally:
        await close_database(engine)
    engine = await open_database(database_url)  # a restart re-runs the check, not the migrations
    try:
        assert await Migration.count().where(Migration.app_name == "edgefn") == len(MIGRATIONS)
        assert await Project.select(Project.name) == [{"name": "kept"}]
    finally:
        await close_database(engine)


async def test_nodes_of_an_older_schema_get_the_feeds_columns(database_url: str) -> None:
    """A control plane upgraded in place: nodes written before the node feed are online, not
    drained, and without URLs (so listed, never a target) until they report them."""
    engine = make_engine(database_url)
    bind(engine)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        before_feed = next(m for m in MIGRATIONS if m > "edgefn_2026_11_27t11")
        old_id = importlib.import_module(f"migrations.{before_feed}").ID
        assert (await run_forwards(app_name="edgefn", migration_id=old_id)).success
        await Node.raw(
            "INSERT INTO edgefn_node (node_id, labels, status, last_heartbeat, cpu_percent, mem_bytes,"
            " inventory) VALUES ('old-1', CAST({} AS json), 'online', {}, 0, 0, CAST({} AS json))",
            "{}",
            dt.datetime.now(dt.UTC),
            "[]",
        )
        await migrate()
        row = await Node.select(Node.public_url, Node.metrics_url, Node.draining).first()
        assert row == {"public_url": "", "metrics_url": "", "draining": False}
    finally:
        await close_database(engine)


async def test_the_migrations_match_the_table_classes() -> None:
    """A table change without its migration fails here (the auto-migrator would find statements)."""
    statements = await AutoMigrationManager().get_alter_statements(app_config=APP_CONFIG)
    pending = [s for group in statements for s in group.statements]
    assert pending == []


async def test_a_function_has_at_most_one_active_deployment(database: str) -> None:
    """The database refuses a second active row, whatever path wrote it."""
    project = Project(name="demo")
    await project.save()
    fn = Function(project=project.id, name="hello", function_id="demo.hello", latest_version=2)
    await fn.save()
    await Deployment(function=fn.id, version=1, active=False).save()
    await Deployment(function=fn.id, version=2).save()
    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await Deployment(function=fn.id, version=1).save()
    assert await Deployment.count().where(Deployment.active == True) == 1  # noqa: E712


async def test_every_table_of_the_model_inserts_and_selects(database: str) -> None:
    project = Project(name="demo")
    await project.save()
    await Membership(project=project.id, subject="alice", role="owner").save()
    fn = Function(project=project.id, name="hello", function_id="demo.hello", latest_version=1)
    await fn.save()
    await FunctionVersion(
        function=fn.id,
        version=1,
        state="ready",
        entrypoint="handle",
        memory_pages=16,
        max_execution_ms=50,
        min_hot_instances=1,
        max_hot_instances=8,
        http_allow=["api.example.com", "*.example.org"],
        artifact_key="demo.hello/1.wasm",
        sha256="ab" * 32,
        size_bytes=5 * 2**30,  # 64-bit: larger than a PostgreSQL integer
        denied_imports=[],
    ).save()
    await Route(
        project=project.id,
        function=fn.id,
        host="*",
        path="/users/{id}",
        methods=["GET", "HEAD"],
        priority=100,
    ).save()
    await Deployment(function=fn.id, version=1, selector="region == 'tokyo'", created_by="alice").save()
    labels = {"region": "tokyo", "tier": "edge", "ünïcode": "✓"}
    inventory = [{"function_id": "demo.hello", "version": 1, "state": "cached"}]
    await Node(
        node_id="edge-1", labels=labels, cpu_percent=12.5, mem_bytes=3 * 2**31, inventory=inventory
    ).save()
    await NodeDeployment(node_id="edge-1", function_id="demo.hello", version=1, state="cached").save()
    context = {"attempts": 5, "last": {"status": 503, "url": "http://cp/artifacts/x"}, "ok": False}
    await ErrorReport(
        node_id="edge-1", function_id="demo.hello", version=1, message="fetch failed", context=context
    ).save()
    await Usage(project="demo", day=dt.date(2026, 11, 27), cpu_seconds=1.25).save()
    await Revision(value=7).save()

    assert await Project.select(Project.name) == [{"name": "demo"}]
    member = await Membership.select(Membership.project.name, Membership.subject, Membership.role).first()
    assert member == {"project.name": "demo", "subject": "alice", "role": "owner"}
    version = await FunctionVersion.select().first().output(load_json=True)
    assert version is not None
    assert version["http_allow"] == ["api.example.com", "*.example.org"]
    assert version["denied_imports"] == []
    assert version["size_bytes"] == 5 * 2**30
    assert version["sha256"] == "ab" * 32
    assert isinstance(version["created_at"], dt.datetime)
    route = (
        await Route.select(Route.function.function_id, Route.path, Route.methods)
        .first()
        .output(load_json=True)
    )
    assert route == {"function.function_id": "demo.hello", "path": "/users/{id}", "methods": ["GET", "HEAD"]}
    deployment = await Deployment.select(Deployment.selector, Deployment.active).first()
    assert deployment == {"selector": "region == 'tokyo'", "active": True}
    node = await Node.select().where(Node.node_id == "edge-1").first().output(load_json=True)
    assert node is not None
    assert node["labels"] == labels
    assert node["inventory"] == inventory
    assert node["mem_bytes"] == 3 * 2**31
    assert node["cpu_percent"] == 12.5
    assert node["status"] == "online"
    state = await NodeDeployment.select(NodeDeployment.state, NodeDeployment.error).first()
    assert state == {"state": "cached", "error": ""}
    report = await ErrorReport.select(ErrorReport.context).first().output(load_json=True)
    assert report == {"context": context}
    usage = await Usage.select(Usage.day, Usage.cpu_seconds).first()
    assert usage == {"day": dt.date(2026, 11, 27), "cpu_seconds": 1.25}
    assert await Revision.select(Revision.value) == [{"value": 7}]
    # Updates of JSON columns round-trip too.
    await Node.update({Node.labels: {"region": "osaka"}}).where(Node.node_id == "edge-1")
    updated = await Node.select(Node.labels).first().output(load_json=True)
    assert updated == {"labels": {"region": "osaka"}}


async def insert_twice(table: type[Table], row: dict[str, Any]) -> None:
    await table.insert(table(**row))
    with pytest.raises(Exception) as err:
        await table.insert(table(**row))
    assert "unique" in str(err.value).lower() or "duplicate" in str(err.value).lower(), err.value


async def test_unique_constraints_hold(database: str) -> None:
    await insert_twice(Project, {"name": "demo"})
    project = await Project.select(Project.id).first()
    assert project is not None
    await insert_twice(Function, {"project": project["id"], "name": "hello", "function_id": "demo.hello"})
    await insert_twice(Node, {"node_id": "edge-1"})
    assert await Project.count() == 1
    assert await Function.count() == 1
    assert await Node.count() == 1


async def test_a_failed_transaction_leaves_nothing(database: str) -> None:
    with pytest.raises(RuntimeError):
        async with Project._meta.db.transaction():
            await Project.insert(Project(name="half"))
            raise RuntimeError("abort")
    assert await Project.count() == 0


# The `edgefn migrate` command.


def settings_file(tmp_path: Path, url: str, extra: str = "") -> Path:
    config = tmp_path / f"settings-{secrets.token_hex(3)}.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n{extra}\n[database]\nurl = "{url}"\n')
    return config


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_edgefn_migrate_says_what_it_applied_then_that_it_is_up_to_date(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = make_url(engine, tmp_path, request)
    config = settings_file(tmp_path, url)
    first = run_cli("migrate", "--config", str(config))  # a new database: says what it applied
    assert first.returncode == 0, first.stderr
    assert one_line(first.stdout).startswith(
        f"database at {describe_url(url)}: applied {len(MIGRATIONS)} migrations (2026-"
    )
    again = run_cli("migrate", "--config", str(config))  # nothing left to do, and says so
    assert again.returncode == 0, again.stderr
    assert one_line(again.stdout) == (
        f"database at {describe_url(url)} is up to date ({len(MIGRATIONS)} migrations, none to apply)"
    )
    result = again
    if engine == "postgresql":
        assert url.split(":")[2].split("@")[0] not in result.stdout + result.stderr  # no password


def test_a_database_url_of_another_kind_is_a_bad_setting(tmp_path: Path) -> None:
    result = run_cli("migrate", "--config", str(settings_file(tmp_path, "mysql://db/edgefn")))
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "error: database.url must be a sqlite:/// or postgresql:// URL, got 'mysql://db/edgefn'"
    )


def test_an_unreachable_database_fails_in_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://edgefn:secret@127.0.0.1:{port}/edgefn"
    result = run_cli("migrate", "--config", str(settings_file(tmp_path, url)))
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith(f"error: cannot open the database at 127.0.0.1:{port}/edgefn: ")
    assert "secret" not in result.stderr


def test_a_wrong_password_fails_in_one_line(tmp_path: Path, postgres: PostgresServer) -> None:
    url = postgres.url.replace(postgres.password, "not-the-password")
    result = run_cli("migrate", "--config", str(settings_file(tmp_path, url)))
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith(f"error: cannot open the database at 127.0.0.1:{postgres.port}/edgefn: ")
    assert "password authentication failed" in line
    assert "not-the-password" not in result.stderr


async def test_open_database_raises_one_database_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match=r"^cannot open the database at .*file/sub/edgefn.db: "):
        await open_database(f"sqlite:///{blocker}/sub/edgefn.db")


# A real control plane on each engine: `edgefn deploy` of the example project lands in the database.


@pytest.mark.parametrize("engine", ENGINES)
def test_a_control_plane_on_each_engine_takes_a_deploy(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = make_url(engine, tmp_path, request)
    port = free_port()
    config = settings_file(
        tmp_path, url, f'[api]\nport = {port}\n[auth]\nsigning_key_file = "{tmp_path / "signing.pem"}"'
    )
    token = run_cli("token", "--subject", "alice", "--config", str(config))
    assert token.returncode == 0, token.stderr
    project = tmp_path / "demo"
    shutil.copytree(REPO / "functions" / "hello", project / "functions" / "hello")
    shutil.copy(REPO / "edgefn.toml", project / "edgefn.toml")
    cp = control_plane_process(config, tmp_path)
    try:
        cp.wait_port(port, timeout=60)
        api = f"http://127.0.0.1:{port}"
        auth = ["--api", api, "--token", token.stdout.strip()]
        deployed = run_cli("deploy", "--project", str(project), *auth)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr + cp.stderr[-3000:]
        status = run_cli("status", *auth)
        assert status.returncode == 0, status.stderr
        assert "hello" in status.stdout
    finally:
        cp.stop()
    assert "Traceback" not in cp.stderr

    async def stored() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        db = await open_database(url)
        try:
            versions = await FunctionVersion.select(
                FunctionVersion.function.function_id, FunctionVersion.state, FunctionVersion.sha256
            )
            members = await Membership.select(Membership.project.name, Membership.subject, Membership.role)
            return versions, members
        finally:
            await close_database(db)

    versions, members = asyncio.run(stored())
    assert [(v["function.function_id"], v["state"]) for v in versions] == [("demo.hello", "ready")]
    assert len(versions[0]["sha256"]) == 64
    assert members == [{"project.name": "demo", "subject": "alice", "role": "owner"}]


async def test_sqlite_transactions_hold_the_write_lock_from_their_start(tmp_path: Path) -> None:
    """A read-then-write transaction cannot be overtaken by another writer and fail with "locked"."""
    import sqlite3

    path = tmp_path / "db" / "edgefn.db"
    engine = await open_database(f"sqlite:///{path}")
    try:
        async with engine.transaction():
            await Project.select().first()  # only a read so far
            other = sqlite3.connect(path, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO edgefn_revision (value) VALUES (1)")
            other.close()
    finally:
        await close_database(engine)
