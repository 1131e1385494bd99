"""Engine selection from `database.url`, and migrations run in-process.

Piccolo finds its engine through a configuration module; binding sets that module's `DB`
and each table's engine so the same code runs on SQLite (dev) and PostgreSQL (asyncpg).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from urllib.parse import urlsplit

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.engine import Engine, PostgresEngine, SQLiteEngine
from piccolo.engine.sqlite import SQLiteTransaction, TransactionType
from piccolo.table import Table

from edgehost.db import piccolo_conf
from edgehost.db.tables import TABLES

os.environ.setdefault("PICCOLO_CONF", "edgehost.db.piccolo_conf")


class DatabaseError(Exception):
    """A database URL or migration problem, in one sentence."""


class WritingSQLiteEngine(SQLiteEngine):
    """Transactions take SQLite's write lock when they begin (`BEGIN IMMEDIATE`), waiting for it
    like any write. Every transaction here reads, then writes; a deferred one would instead fail at
    once with "database is locked" if another connection wrote in between (e.g. a heartbeat batch).
    """

    def transaction(
        self, transaction_type: TransactionType = TransactionType.immediate, allow_nested: bool = True
    ) -> SQLiteTransaction:
        return super().transaction(transaction_type=transaction_type, allow_nested=allow_nested)


def make_engine(url: str) -> Engine:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return WritingSQLiteEngine(path=str(path))
    if parts.scheme in ("postgres", "postgresql"):
        return PostgresEngine(config={"dsn": url}, log_queries=False)
    raise DatabaseError(f"database.url must start with sqlite:/// or postgresql://, got {url!r}")


def bind(engine: Engine) -> None:
    piccolo_conf.DB = engine
    tables: tuple[type[Table], ...] = (*TABLES, Migration)
    for table in tables:
        table._meta.db = engine


async def migrate() -> str:
    """Applies pending migrations on the bound engine; returns Piccolo's summary line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = await run_forwards(app_name="edgefn")
    if not result.success:
        raise DatabaseError(f"migration failed: {result.message}")
    return result.message or ""


def describe_url(url: str) -> str:
    """The URL without its password, for messages: `host:port/db` or the SQLite path."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


async def open_database(url: str) -> Engine:
    """Binds the engine of `url` and applies pending migrations; any failure is one `DatabaseError`."""
    engine: Engine | None = None
    try:
        # Piccolo reports a failed connection as a coloured warning before raising; the sentence
        # below says it once, without the noise.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = make_engine(url)
            bind(engine)
            if isinstance(engine, PostgresEngine):
                await engine.start_connection_pool(min_size=1, max_size=10)
            await migrate()
    except Exception as exc:
        if engine is not None:
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await close_database(engine)
        if isinstance(exc, DatabaseError):
            raise
        reason = str(exc) or type(exc).__name__
        raise DatabaseError(f"cannot open the database at {describe_url(url)}: {reason}") from exc
    return engine


async def close_database(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
