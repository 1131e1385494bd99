"""The runner's budget of linear memory for hot instances, split evenly between projects.

Without it one project's deployment decides how much memory a runner holds: `min_hot_instances`
instances are created up front and up to `max_hot_instances` kept, each with up to
`memory_pages` of linear memory (2 GiB at the limit). Here every instance kept hot (warmed, or
idle between requests) is charged its linear memory's current size, in bytes, to its project, and
a project may hold at most its share:

    share = min(pool.project_memory_bytes, pool.max_memory_bytes // projects with a live pool)

Past its share a project's instance is simply not kept (destroyed after its request; warming
stops), so its requests take the cold path: the cost of its own size falls on itself, never on
another project, and the shares together never exceed `pool.max_memory_bytes`. When a project
arrives and the shares shrink, `over_share` names the projects to trim (their coldest idle
instances first). Instances serving a request are not charged: how many run at once is the
quotas' concern (`quotas.max_concurrent`).
"""

from __future__ import annotations

import threading
from collections import Counter


class HotMemoryBudget:
    """Bytes of hot linear memory held per project; thread-safe (guests release on worker threads)."""

    def __init__(self, *, max_bytes: int, project_bytes: int) -> None:
        self._held: dict[str, int] = {}  # a plain dict: Counter's `del` and missing keys run Python code
        self._pools: Counter[str] = Counter()  # live pools per project
        self._lock = threading.Lock()
        self.limit(max_bytes=max_bytes, project_bytes=project_bytes)

    def limit(self, *, max_bytes: int, project_bytes: int) -> None:
        """Sets the runner's whole budget (`pool.max_memory_bytes`) and the most one project may
        hold (`pool.project_memory_bytes`), in bytes; shares follow at once."""
        with self._lock:
            self.max_bytes = max_bytes
            self.project_bytes = project_bytes
            self._reshare()

    def _reshare(self) -> None:
        """The share of a project with a live pool, and of one without (it would add a project),
        computed when the pools or the limits change rather than on each request's hold; called
        with the lock held."""
        projects = len(self._pools)
        self._share_in = min(self.project_bytes, self.max_bytes // max(1, projects))
        self._share_out = min(self.project_bytes, self.max_bytes // (projects + 1))

    def add_pool(self, project: str) -> None:
        with self._lock:
            self._pools[project] += 1
            self._reshare()

    def remove_pool(self, project: str) -> None:
        with self._lock:
            self._pools[project] -= 1
            if self._pools[project] <= 0:
                del self._pools[project]
            self._reshare()

    def share(self, project: str) -> int:
        """The most hot memory `project` may hold now, in bytes."""
        with self._lock:
            return self._share(project)

    def _share(self, project: str) -> int:
        return self._share_in if project in self._pools else self._share_out

    def fits(self, project: str, size: int) -> bool:
        """Whether `size` more bytes would keep `project` within its share now."""
        with self._lock:
            return self._held.get(project, 0) + size <= self._share(project)

    def hold(self, project: str, size: int) -> bool:
        """Charges `size` bytes to `project` if that keeps it within its share; False otherwise.
        Every request to a hot instance frees and holds its size again, so both stay plain dict
        operations."""
        with self._lock:
            held = self._held.get(project, 0) + size
            if held > self._share(project):
                return False
            self._held[project] = held
            return True

    def free(self, project: str, size: int) -> None:
        with self._lock:
            held = self._held.get(project, 0) - size
            if held > 0:
                self._held[project] = held
            else:
                self._held.pop(project, None)

    def held(self, project: str) -> int:
        with self._lock:
            return self._held.get(project, 0)

    def over_share(self) -> dict[str, int]:
        """Projects holding more than their share (after shares shrank), and by how many bytes."""
        with self._lock:
            return {p: held - self._share(p) for p, held in self._held.items() if held > self._share(p)}
