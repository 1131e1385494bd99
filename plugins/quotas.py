"""Built-in plugin: per-tenant admission — the daily CPU block, concurrent executions and the
per-minute moving window. It is all of the runner's tenant policy: a plugin that replaces it
(`edgehost_admission`) replaces all three.

The daily block is decided by the control plane, which sums every node's CPU seconds per project
and UTC day (`quotas.cpu_seconds_per_day`) and sends the projects over it with the desired state.

The window lives in `limits` storage (`quotas.storage`): memory for one process, Redis to
share it across workers and nodes. If Redis goes away, admission falls back to a
per-process window and says so (log line and metric) instead of failing requests, and
probes Redis again at most once a second so an outage costs no connect per request.

Concurrency is per runner, so it must hold across the runner's worker processes: the
counts live in a small memory-mapped table under `runner.state_dir` (see `SharedCounts`),
or in a dict when one process serves.

A window hit is a round trip in Redis, so hits are leased in batches under load
(`edgehost/rate_window.py`, which also holds the per-process window).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgehost import contracts
from edgehost.collectors import ScrapeTime, label_value
from edgehost.context import AppContext
from edgehost.contracts import Invocation, Rejection
from edgehost.hookspecs import hookimpl
from edgehost.rate_window import LeasedWindow, memory_limiter
from edgehost.runner.ingress import Ingress
from edgehost.settings import worker_count

log = logging.getLogger("edgefn.quotas")

FALLBACKS = Counter(
    "edgefn_quota_storage_fallbacks", "Admissions decided by the per-process window because storage failed."
)
DEGRADED = Gauge(
    "edgefn_quota_storage_degraded",
    "1 while the shared rate-window storage is unreachable.",
    multiprocess_mode="max",
)
SLOT = "quotas.slot"
PROBE_INTERVAL_S = 1.0
TABLE_FILE = "concurrency.table"
MAX_LEASE = 64
LEASE_SHARE = 1000  # a lease is at most 1/LEASE_SHARE of the per-minute limit


class LocalCounts:
    """Running executions per tenant in this process only (one worker, or a table that is full)."""

    def __init__(self) -> None:
        self._running: dict[str, int] = {}

    def try_acquire(self, tenant: str, limit: int) -> int:
        """Takes a slot unless `limit` are taken; returns how many ran before (>= limit: refused)."""
        running = self._running.get(tenant, 0)
        if running < limit:
            self._running[tenant] = running + 1
        return running

    def release(self, tenant: str) -> None:
        """Down to 0, not forgotten: the gauge keeps showing a tenant once seen, as SharedCounts does."""
        running = self._running.get(tenant, 1)
        self._running[tenant] = running - 1 if running > 0 else 0

    def in_flight(self) -> dict[str, int]:
        return dict(self._running)


class SharedCounts:
    """Running executions per tenant across every process of one runner, in a memory-mapped file.

    Each process owns one row, claimed by holding an fcntl lock on its owner byte for its
    lifetime; the kernel drops that lock when the process dies, so a refusal that finds a
    dead owner's row (or the next process to claim it) zeroes it: a crashed worker never
    leaks slots. A tenant's count is the sum of its
    column; the check-and-increment runs under one short fcntl lock, the decrement touches
    only the process's own row and needs none.
    """

    ROWS = 64
    SLOTS = 4096
    KEY = 16
    _MAGIC = b"edgefnC1"
    _NAMES = 64
    _OWNERS = _NAMES + SLOTS * KEY
    _COUNTS = _OWNERS + ROWS
    _SIZE = _COUNTS + SLOTS * ROWS * 4

    def __init__(self, path: Path) -> None:
        self.path = path
        self.overflow = LocalCounts()
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, 0)
        try:
            if os.fstat(self.fd).st_size != self._SIZE or os.pread(self.fd, 8, 0) != self._MAGIC:
                os.ftruncate(self.fd, 0)
                os.ftruncate(self.fd, self._SIZE)
                os.pwrite(self.fd, self._MAGIC, 0)
            self.map = mmap.mmap(self.fd, self._SIZE)
            self.counts = memoryview(self.map)[self._COUNTS :].cast("i")
            self.row = self._claim_row()
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 0)
        self.pid = os.getpid()
        self.slots: dict[str, int | None] = {}

    def _claim_row(self) -> int:
        for row in range(self.ROWS):
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self._OWNERS + row)
            except OSError:
                continue
            for slot in range(self.SLOTS):  # the previous owner died: its executions are over
                self.counts[slot * self.ROWS + row] = 0
            return row
        raise RuntimeError(f"more than {self.ROWS} processes share {self.path}")

    def _slot(self, tenant: str) -> int | None:
        """The tenant's column, found or claimed by open addressing on a hash of its name."""
        key = hashlib.blake2b(tenant.encode(), digest_size=self.KEY).digest()
        start = int.from_bytes(key[:4], "little") % self.SLOTS
        for probe in range(self.SLOTS):
            slot = (start + probe) % self.SLOTS
            at = self._NAMES + slot * self.KEY
            held = self.map[at : at + self.KEY]
            if held == key:
                return slot
            if held == bytes(self.KEY):
                self.map[at : at + self.KEY] = key
                return slot
        log.error("the concurrency table is full; %r is counted per process", tenant)
        return None

    def try_acquire(self, tenant: str, limit: int) -> int:
        if self.pid != os.getpid():  # forked: locks are not inherited, so claim a row of our own
            os.close(self.fd)
            self._open()
        fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, 0)
        try:
            if tenant not in self.slots:
                self.slots[tenant] = self._slot(tenant)
            slot = self.slots[tenant]
            if slot is None:
                return self.overflow.try_acquire(tenant, limit)
            base = slot * self.ROWS
            running = sum(self.counts[base : base + self.ROWS])
            if running >= limit and self._reap_dead_rows(base):
                running = sum(self.counts[base : base + self.ROWS])
            if running < limit:
                self.counts[base + self.row] += 1
            return running
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 0)

    def _reap_dead_rows(self, base: int) -> bool:
        """On refusals only: zeroes the rows of processes that died holding slots (their lock is free)."""
        reaped = False
        for row in range(self.ROWS):
            if row == self.row or not self.counts[base + row]:
                continue
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self._OWNERS + row)
            except OSError:
                continue  # its owner is alive
            for slot in range(self.SLOTS):
                self.counts[slot * self.ROWS + row] = 0
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, self._OWNERS + row)
            reaped = True
        return reaped

    def release(self, tenant: str) -> None:
        slot = self.slots.get(tenant)
        if slot is None:
            self.overflow.release(tenant)
        elif self.counts[slot * self.ROWS + self.row] > 0:
            self.counts[slot * self.ROWS + self.row] -= 1

    def in_flight(self) -> dict[str, int]:
        """Runner-wide counts of the tenants this process has seen."""
        counts = self.overflow.in_flight()
        for tenant, slot in self.slots.items():
            if slot is not None:
                counts[tenant] = sum(self.counts[slot * self.ROWS : (slot + 1) * self.ROWS])
        return counts


_tables: dict[Path, SharedCounts] = {}


def shared_counts(path: Path) -> SharedCounts:
    """One table per file per process: a second fd would share (and, closed, drop) the row lock."""
    if path not in _tables:
        _tables[path] = SharedCounts(path)
    return _tables[path]


class Admission:
    """The daily CPU block, then concurrency, then the per-minute window (module docstring)."""

    def __init__(
        self,
        *,
        max_concurrent: int,
        per_minute: int,
        storage_uri: str,
        counts: LocalCounts | SharedCounts,
        blocked: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        self.blocked = blocked
        self.max_concurrent = max_concurrent
        self.per_minute = per_minute
        item = RateLimitItemPerMinute(per_minute)
        max_lease = max(1, min(MAX_LEASE, per_minute // LEASE_SHARE))
        self.shared = not storage_uri.startswith("memory://")
        # The per-process window: the only one with memory storage, the fallback with Redis.
        self.local = LeasedWindow(memory_limiter(), item, max_lease)
        self.window = self.local
        if self.shared:
            storage = storage_from_string(storage_uri, socket_timeout=0.25, socket_connect_timeout=0.25)
            self.window = LeasedWindow(MovingWindowRateLimiter(storage), item, max_lease)
        self.counts = counts
        self._lock = threading.Lock()
        self._degraded = False
        self._probe_at = 0.0

    def _hit(self, tenant: str) -> tuple[bool, LeasedWindow]:
        """A hit in the shared window, or in the per-process one while the storage is unreachable."""
        if not self._degraded or time.monotonic() >= self._probe_at:
            try:
                allowed = self.window.hit(tenant)
            except Exception as exc:
                self._probe_at = time.monotonic() + PROBE_INTERVAL_S
                if not self._degraded:
                    log.error("quota storage unreachable (%s); using the per-process window", exc)
                    self._degraded = True
                    DEGRADED.set(1)
            else:
                if self._degraded:
                    log.warning("quota storage is back; the shared window applies again")
                    self._degraded = False
                    DEGRADED.set(0)
                return allowed, self.window
        FALLBACKS.inc()
        return self.local.hit(tenant), self.local

    def admit(self, invocation: Invocation) -> Rejection | None:
        tenant = invocation.tenant
        if tenant in self.blocked():
            return Rejection(
                429, "quota_exceeded", "the project used its daily CPU quota", [("retry-after", "3600")]
            )
        with self._lock:
            running = self.counts.try_acquire(tenant, self.max_concurrent)
        if running >= self.max_concurrent:
            return Rejection(
                429,
                "quota_exceeded",
                f"the project already runs {running} concurrent executions on this runner",
                [("retry-after", "1")],
            )
        invocation.extra[SLOT] = True
        if self.shared:
            allowed, window = self._hit(tenant)
        else:  # memory storage: the per-process window is the only one
            allowed, window = self.local.hit(tenant), self.local
        if not allowed:
            self.release(invocation)
            return Rejection(
                429,
                "rate_limited",
                f"the project exceeded {self.per_minute} invocations per minute",
                [("retry-after", str(window.retry_after(tenant)))],
            )
        return None

    def release(self, invocation: Invocation) -> None:
        if invocation.extra.pop(SLOT, False):
            with self._lock:
                self.counts.release(invocation.tenant)

    def in_flight(self) -> dict[str, int]:
        """Running executions per tenant on this runner, for the metrics listener."""
        with self._lock:
            return self.counts.in_flight()


@hookimpl
def edgehost_admission(ctx: AppContext, blocked: Callable[[], frozenset[str]]) -> contracts.Admission:
    q = ctx.settings.quotas
    # One serving process (edgefn dev, a one-worker runner) needs no file locks per request.
    workers = worker_count(ctx.settings) if ctx.mode == "runner" else 1
    table = Path(ctx.settings.runner.state_dir) / TABLE_FILE
    return Admission(
        max_concurrent=q.max_concurrent,
        per_minute=q.per_minute,
        storage_uri=q.storage,
        counts=shared_counts(table) if workers > 1 else LocalCounts(),
        blocked=blocked,
    )


def _running(admission: Admission) -> Iterator[Metric]:
    running = GaugeMetricFamily(
        "edgefn_quota_running", "Executions running per tenant on this runner.", labels=["tenant"]
    )
    for tenant, count in sorted(admission.in_flight().items()):
        running.add_metric([label_value(tenant)], count)
    yield running


@hookimpl
def edgehost_metric_collectors(ctx: AppContext) -> list[Collector]:
    """Running executions per tenant, from the admission this plugin made for the ingress."""
    ingress = ctx.services.get(Ingress)
    admission = ingress.admission if ingress is not None else None
    return [ScrapeTime(lambda: _running(admission))] if isinstance(admission, Admission) else []
