"""The desired-state revision and the wake-ups of runners waiting on the watch.

Every change that alters what some node should run bumps one counter in the database. In
one process an asyncio condition wakes the watchers; with PostgreSQL a `NOTIFY` reaches
every CP replica's `LISTEN` connection too, so a node watching replica B learns at once
of a deploy made through replica A.

While the `LISTEN` connection is up, a replica knows the revision without a query (heartbeats
read it thousands of times a second). A notification can still be lost (a replica dying between
its UPDATE and its NOTIFY, or our connection dropping), so every `RESYNC_S` the counter is read
again and the listener reconnected if needed: that bounds how long a replica can lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from piccolo.engine import PostgresEngine

from edgehost.db.tables import Revision

log = logging.getLogger("edgefn.cp.notify")
CHANNEL = "edgefn_revision"
RESYNC_S = 5.0


class Notifier:
    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._seen = 0
        self._listener: Any = None
        self._resync: asyncio.Task[None] | None = None
        self._dsn = ""

    async def start(self) -> None:
        if await Revision.count() == 0:
            await Revision(value=0).save()
        self._seen = await self.current()
        db = Revision._meta.db
        if isinstance(db, PostgresEngine):
            self._dsn = db.config["dsn"]
            await self._listen()
            self._resync = asyncio.create_task(self._resync_forever(), name="revision-resync")

    async def _listen(self) -> None:
        import asyncpg

        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            self._resync = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def current(self) -> int:
        """The revision in the database."""
        row = await Revision.select(Revision.value).first()
        return int(row["value"]) if row else 0

    async def revision(self) -> int:
        """The current revision: from memory while notifications arrive, else read from the database."""
        if self._listener is not None and not self._listener.is_closed():
            return self._seen
        await self._advance(await self.current())
        return self._seen

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_S)
            try:
                if self._listener is None or self._listener.is_closed():
                    log.warning("revision LISTEN connection lost; reconnecting")
                    await self._listen()
                await self._advance(await self.current())
            except Exception:
                log.exception("revision resync failed")

    async def bump(self) -> int:
        """Call after a change commits; returns the new revision."""
        db = Revision._meta.db
        rows = await db.run_querystring(
            Revision.raw("UPDATE edgefn_revision SET value = value + 1 RETURNING value").querystring
        )
        value = int(rows[0]["value"])
        if isinstance(db, PostgresEngine):
            await db.run_querystring(
                Revision.raw("SELECT pg_notify({}, {})", CHANNEL, str(value)).querystring
            )
        await self._advance(value)
        return value

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        asyncio.get_running_loop().create_task(self._advance(int(payload)))

    async def _advance(self, value: int) -> None:
        async with self._cond:
            if value > self._seen:
                self._seen = value
                self._cond.notify_all()

    async def wait_beyond(self, revision: int, timeout: float) -> int:
        """Waits until the revision exceeds `revision` or the timeout passes; returns the revision seen."""
        async with self._cond:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cond.wait_for(lambda: self._seen > revision), timeout)
            return self._seen
