"""The runner's local artifact cache: `{root}/{function_id}/{version}.wasm`, verified on every read.

Each entry is three files side by side:

- `{version}.sha256` — the expected digest, written (atomically) before the artifact;
- `{version}.wasm` — the artifact, moved in with `os.replace`: its appearance commits the entry;
- `{version}.cwasm` — optional, the compiled module written by the runtime; it lives and dies with
  the `.wasm`.

Last use (for LRU) is the `.wasm` file's mtime, set explicitly on put and on every hit. That keeps
the LRU state on disk without an index to rewrite on each read, survives restarts, and stays right
when several processes read the same cache (atime is not used: `noatime`/`relatime` mounts).

Crash safety (kill -9 at any point): temporary files live only in `{root}/.tmp/` (fetch into
`tmp_dir`), which start-up empties; start-up also removes half-made or half-removed entries
(a `.wasm` without its `.sha256`, or a `.sha256`/`.cwasm` without its `.wasm`). Removal deletes the
`.wasm` first so an entry never looks complete while it is being torn down.

Several processes share one cache (docs/runner.md): exactly one, the node's agent, is its
`owner` and recovers and evicts; the ingress workers open it with `owner=False`, so starting a
worker never empties `.tmp/` under the agent's in-flight downloads nor evicts what it just put.

The size bound counts `.wasm` plus `.cwasm` bytes, since both take disk. Eviction is LRU and skips
pinned entries (the versions currently deployed) unless only pinned ones remain; the entry just put
is never evicted by its own put.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from edgehost import contracts
from edgehost.collectors import ScrapeTime
from edgehost.context import AppContext
from edgehost.contracts import ProcessKind
from edgehost.files import fsync_dir, write_atomic
from edgehost.hookspecs import hookimpl
from edgehost.runner.node import NodeState
from edgehost.settings import PositiveInt, SettingsSection

log = logging.getLogger(__name__)

_FUNCTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def noop() -> None:
    """Default hit/miss callback."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One complete cache entry; `size` is the bytes it holds on disk (.wasm plus .cwasm)."""

    function_id: str
    version: int
    size: int
    sha256: str
    last_used: float


def _check(function_id: str, version: int) -> None:
    if not _FUNCTION_ID.fullmatch(function_id):
        raise ValueError(f"function_id {function_id!r} is not path-safe")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version {version!r} must be a non-negative integer")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class ArtifactCache:
    """Verified, size-bounded, crash-safe storage of function artifacts on the runner's disk."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int,
        on_hit: Callable[[], None] = noop,
        on_miss: Callable[[], None] = noop,
        clock: Callable[[], float] = time.time,
        owner: bool = True,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = root
        self.max_bytes = max_bytes
        self._on_hit = on_hit
        self._on_miss = on_miss
        self._clock = clock
        self.owner = owner
        self._pinned: set[tuple[str, int]] = set()
        if owner:
            self._recover()
        else:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)

    @property
    def tmp_dir(self) -> Path:
        """Where downloads go before `put`: same filesystem (so os.replace is atomic), emptied at start-up."""
        return self.root / ".tmp"

    def path_for(self, function_id: str, version: int) -> Path:
        _check(function_id, version)
        return self.root / function_id / f"{version}.wasm"

    def compiled_path_for(self, function_id: str, version: int) -> Path:
        """Where the runtime keeps the compiled module, so a restart does not recompile."""
        return self.path_for(function_id, version).with_suffix(".cwasm")

    def get(self, function_id: str, version: int, sha256: str) -> bytes | None:
        """The artifact if present and its SHA-256 matches; otherwise drop what is there and miss."""
        path = self.path_for(function_id, version)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._drop(function_id, version)  # leftovers such as a lone .cwasm
            self._on_miss()
            return None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            log.warning(
                "cache entry %s v%d is corrupt (sha256 %s, expected %s): removed",
                function_id,
                version,
                actual,
                sha256,
            )
            self._drop(function_id, version)
            self._on_miss()
            return None
        now = self._clock()
        with contextlib.suppress(FileNotFoundError):  # evicted by another process meanwhile
            os.utime(path, (now, now))
        self._on_hit()
        return data

    def put(self, function_id: str, version: int, sha256: str, source_path: Path) -> Path:
        """Move an already-verified file (in `tmp_dir`) into place, then evict down to `max_bytes`."""
        path = self.path_for(function_id, version)
        sha256 = sha256.lower()
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"sha256 {sha256!r} is not a hex SHA-256 digest")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path.with_suffix(".sha256"), sha256.encode(), tmp_dir=self.tmp_dir)
        _unlink(path.with_suffix(".cwasm"))  # compiled from whatever was here before
        os.replace(source_path, path)
        now = self._clock()
        os.utime(path, (now, now))
        fsync_dir(path.parent)
        if self.owner:
            self._evict(keep=(function_id, version))
        return path

    def remove(self, function_id: str, version: int) -> None:
        """Delete an entry (undeploy); absent entries are fine."""
        self._drop(function_id, version)

    def pin(self, function_id: str, version: int) -> None:
        """Protect a deployed version from eviction while other entries can go instead."""
        _check(function_id, version)
        self._pinned.add((function_id, version))

    def unpin(self, function_id: str, version: int) -> None:
        self._pinned.discard((function_id, version))

    def entries(self) -> list[CacheEntry]:
        """Complete entries, ordered by function_id then version."""
        found: list[CacheEntry] = []
        for fdir in sorted(self._function_dirs()):
            for wasm in fdir.glob("*.wasm"):
                if not wasm.stem.isdigit():
                    continue
                try:
                    st = wasm.stat()
                    sha = wasm.with_suffix(".sha256").read_text().strip()
                except FileNotFoundError:
                    continue  # being removed, or not yet committed
                size = st.st_size
                with contextlib.suppress(FileNotFoundError):
                    size += wasm.with_suffix(".cwasm").stat().st_size
                found.append(CacheEntry(fdir.name, int(wasm.stem), size, sha, st.st_mtime))
        found.sort(key=lambda e: (e.function_id, e.version))
        return found

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries())

    def _function_dirs(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]

    def _evict(self, keep: tuple[str, int]) -> None:
        entries = self.entries()
        total = sum(e.size for e in entries)
        # Unpinned before pinned, each least recently used first.
        victims = sorted(
            (e for e in entries if (e.function_id, e.version) != keep),
            key=lambda e: ((e.function_id, e.version) in self._pinned, e.last_used, e.function_id, e.version),
        )
        for e in victims:
            if total <= self.max_bytes:
                break
            if (e.function_id, e.version) in self._pinned:
                log.warning(
                    "cache over %d bytes with only pinned entries left: evicting %s v%d",
                    self.max_bytes,
                    e.function_id,
                    e.version,
                )
            self._drop(e.function_id, e.version)
            total -= e.size

    def _drop(self, function_id: str, version: int) -> None:
        path = self.path_for(function_id, version)
        for p in (path, path.with_suffix(".cwasm"), path.with_suffix(".sha256")):
            _unlink(p)
        with contextlib.suppress(OSError):  # not empty, or already gone
            path.parent.rmdir()

    def _recover(self) -> None:
        """Empty `.tmp/` and drop entries a crash left half-made or half-removed."""
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        for fdir in self._function_dirs():
            if not _FUNCTION_ID.fullmatch(fdir.name):
                continue
            names = {p.name for p in fdir.iterdir()}
            for name in names:
                stem, _, ext = name.partition(".")
                if not stem.isdigit() or ext not in ("wasm", "cwasm", "sha256"):
                    continue
                complete = f"{stem}.wasm" in names and f"{stem}.sha256" in names
                if not complete:
                    _unlink(fdir / name)
            with contextlib.suppress(OSError):
                fdir.rmdir()


class CacheSettings(SettingsSection, frozen=True):
    """The `[cache]` table (docs/settings.md); the folder itself is `runner.cache_dir`."""

    max_bytes: PositiveInt = 10737418240


@hookimpl
def edgehost_settings_sections() -> dict[str, type[SettingsSection]]:
    return {"cache": CacheSettings}


@hookimpl
def edgehost_artifact_cache(ctx: AppContext, process: ProcessKind) -> contracts.ArtifactCache:
    return ArtifactCache(
        Path(ctx.settings.runner.cache_dir),
        max_bytes=ctx.settings.section(CacheSettings).max_bytes,
        owner=process != "worker",
    )


@hookimpl
def edgehost_metric_collectors(ctx: AppContext) -> list[Collector]:
    """The bytes in the node's cache, when it is this plugin's."""
    node = ctx.services.get(NodeState)
    cache = node.cache if node is not None else None
    if not isinstance(cache, ArtifactCache):
        return []
    return [
        ScrapeTime(
            lambda: [
                GaugeMetricFamily(
                    "edgefn_cache_bytes", "Bytes in the local artifact cache.", value=cache.total_bytes
                )
            ]
        )
    ]
