"""Built-in plugin: per-tenant admission — concurrent executions and the per-minute moving window.

The window lives in `limits` storage (`quotas.storage`): memory for one process, Redis to
share it across workers and nodes. If Redis goes away, admission falls back to a
per-process window and says so (log line and metric) instead of failing requests.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from edgehost.context import AppContext
from edgehost.contracts import Invocation, Rejection
from edgehost.hookspecs import hookimpl

log = logging.getLogger("edgefn.quotas")

FALLBACKS = Counter("edgefn_quota_storage_fallbacks", "Admissions decided by the per-process window.")
SLOT = "quotas.slot"


class Admission:
    def __init__(self, *, max_concurrent: int, per_minute: int, storage_uri: str) -> None:
        self.max_concurrent = max_concurrent
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared = not storage_uri.startswith("memory://")
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()
        self._degraded = False

    def _hit(self, tenant: str) -> tuple[bool, MovingWindowRateLimiter]:
        if self.shared:
            try:
                allowed = self.limiter.hit(self.item, tenant)
                if self._degraded:
                    log.warning("quota storage is back; the shared window applies again")
                    self._degraded = False
                return allowed, self.limiter
            except Exception as exc:
                if not self._degraded:
                    log.error("quota storage unreachable (%s); using the per-process window", exc)
                    self._degraded = True
                FALLBACKS.inc()
        return self.local.hit(self.item, tenant), self.local

    def admit(self, invocation: Invocation) -> Rejection | None:
        tenant = invocation.tenant
        with self._lock:
            running = self._running.get(tenant, 0)
            if running >= self.max_concurrent:
                return Rejection(
                    429,
                    "quota_exceeded",
                    f"the project already runs {running} concurrent executions here",
                    [("retry-after", "1")],
                )
            self._running[tenant] = running + 1
        invocation.extra[SLOT] = True
        allowed, limiter = self._hit(tenant)
        if not allowed:
            self.release(invocation)
            return Rejection(
                429,
                "rate_limited",
                f"the project exceeded {self.item.amount} invocations per minute",
                [("retry-after", str(self._retry_after(limiter, tenant)))],
            )
        return None

    def _retry_after(self, limiter: MovingWindowRateLimiter, tenant: str) -> int:
        try:
            reset = limiter.get_window_stats(self.item, tenant).reset_time
        except Exception:
            return 60
        return max(1, math.ceil(reset - time.time()))

    def release(self, invocation: Invocation) -> None:
        if invocation.extra.pop(SLOT, False):
            with self._lock:
                left = self._running.get(invocation.tenant, 1) - 1
                if left:
                    self._running[invocation.tenant] = left
                else:
                    self._running.pop(invocation.tenant, None)


@hookimpl
def edgehost_admission(ctx: AppContext) -> Admission:
    q = ctx.settings.quotas
    return Admission(max_concurrent=q.max_concurrent, per_minute=q.per_minute, storage_uri=q.storage)
