"""The `sqlite` KV backend of `edgefn dev`: one file in the state folder, shared by every process
of the one machine (WAL mode), surviving restarts.

Every write runs in one `BEGIN IMMEDIATE` transaction that reads the project's usage, checks the
quota and writes the entry and the new usage together, so concurrent writers never overshoot it.
Waiting for another writer's lock is bounded by the call's timeout (`busy_timeout`).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from edgehost.kv import KvLimits, KvQuotaExceeded, KvTimeout, KvUnavailable, check_entry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_entry (
    project TEXT NOT NULL, store TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (project, store, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_usage (project TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
"""


class SqliteKvStore:
    def __init__(self, path: Path, limits: KvLimits) -> None:
        self.path = path
        self.limits = limits
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection(limits.timeout_s).executescript(_SCHEMA)

    def _connection(self, timeout: float) -> sqlite3.Connection:
        """This thread's connection (sqlite3 objects are not shared), its lock wait set to `timeout`."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        wait_ms = max(1, int(timeout * 1000))
        if getattr(self._local, "wait_ms", None) != wait_ms:  # once per call, not per statement
            conn.execute(f"PRAGMA busy_timeout={wait_ms}")
            self._local.wait_ms = wait_ms
        return conn

    def _run(self, timeout: float, work: str, *args: object) -> list[tuple[Any, ...]]:
        if timeout <= 0:
            raise KvTimeout("no time was left for the store call")
        try:
            return self._connection(timeout).execute(work, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise KvTimeout(f"the store stayed locked for {timeout:.3f} s") from None
            raise KvUnavailable(f"the sqlite store at {self.path} failed: {exc}") from None
        except sqlite3.Error as exc:
            raise KvUnavailable(f"the sqlite store at {self.path} failed: {exc}") from None

    def get(self, project: str, store: str, key: bytes, timeout: float) -> bytes | None:
        rows = self._run(
            timeout, "SELECT value FROM kv_entry WHERE project=? AND store=? AND key=?", project, store, key
        )
        return bytes(rows[0][0]) if rows else None

    def set(self, project: str, store: str, key: bytes, value: bytes, timeout: float) -> None:
        check_entry(key, value, self.limits)
        self._run(timeout, "BEGIN IMMEDIATE")
        try:
            old = self._run(
                timeout,
                "SELECT length(key) + length(value) FROM kv_entry WHERE project=? AND store=? AND key=?",
                project,
                store,
                key,
            )
            delta = len(key) + len(value) - (int(old[0][0]) if old else 0)
            used = self._used(project, timeout)
            if delta > 0 and used + delta > self.limits.max_project_bytes:
                raise KvQuotaExceeded(
                    f"project {project} uses {used} of kv.max_project_bytes "
                    f"({self.limits.max_project_bytes}); this write needs {delta} more"
                )
            self._run(
                timeout,
                "INSERT OR REPLACE INTO kv_entry (project, store, key, value) VALUES (?, ?, ?, ?)",
                project,
                store,
                key,
                value,
            )
            self._add_usage(project, delta, timeout)
            self._run(timeout, "COMMIT")
        except BaseException:
            self._rollback()
            raise

    def delete(self, project: str, store: str, key: bytes, timeout: float) -> None:
        self._run(timeout, "BEGIN IMMEDIATE")
        try:
            old = self._run(
                timeout,
                "DELETE FROM kv_entry WHERE project=? AND store=? AND key=? "
                "RETURNING length(key) + length(value)",
                project,
                store,
                key,
            )
            if old:
                self._add_usage(project, -int(old[0][0]), timeout)
            self._run(timeout, "COMMIT")
        except BaseException:
            self._rollback()
            raise

    def keys(self, project: str, store: str, prefix: bytes, limit: int, timeout: float) -> list[bytes]:
        rows = self._run(
            timeout,
            "SELECT key FROM kv_entry WHERE project=? AND store=? AND key >= ? ORDER BY key LIMIT ?",
            project,
            store,
            prefix,
            limit,
        )
        found = [bytes(row[0]) for row in rows]
        return [key for key in found if key.startswith(prefix)]

    def usage(self, project: str, timeout: float) -> int:
        return self._used(project, timeout)

    def _used(self, project: str, timeout: float) -> int:
        rows = self._run(timeout, "SELECT bytes FROM kv_usage WHERE project=?", project)
        return int(rows[0][0]) if rows else 0

    def _add_usage(self, project: str, delta: int, timeout: float) -> None:
        self._run(
            timeout,
            "INSERT INTO kv_usage (project, bytes) VALUES (?, ?) "
            "ON CONFLICT(project) DO UPDATE SET bytes = bytes + excluded.bytes",
            project,
            delta,
        )

    def _rollback(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
