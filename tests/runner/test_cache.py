"""Local artifact cache on real files: layout, verification on read, LRU by size, crash recovery."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from edgehost.plugins.caching import ArtifactCache, noop


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> None:
        self.n += 1


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staged(cache: ArtifactCache, data: bytes) -> Path:
    """A verified download as the fetcher leaves it: a file in the cache's temp dir."""
    path = cache.tmp_dir / f"dl-{sha(data)[:8]}"
    path.write_bytes(data)
    return path


def add(cache: ArtifactCache, fn: str, version: int, data: bytes) -> Path:
    return cache.put(fn, version, sha(data), staged(cache, data))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(root: Path, clock: Clock, max_bytes: int = 1 << 20, **kw: Counter) -> ArtifactCache:
    return ArtifactCache(
        root, max_bytes=max_bytes, clock=clock, on_hit=kw.get("on_hit", noop), on_miss=kw.get("on_miss", noop)
    )


def test_layout_and_hit(tmp_path: Path, clock: Clock) -> None:
    hits, misses = Counter(), Counter()
    cache = make(tmp_path, clock, on_hit=hits, on_miss=misses)
    data = b"\0asm\1\0\0\0 hello"
    src = staged(cache, data)
    path = cache.put("fn-1", 3, sha(data), src)
    assert path == tmp_path / "fn-1" / "3.wasm" == cache.path_for("fn-1", 3)
    assert cache.compiled_path_for("fn-1", 3) == tmp_path / "fn-1" / "3.cwasm"
    assert not src.exists()
    assert cache.get("fn-1", 3, sha(data)) == data
    assert cache.get("fn-1", 3, sha(data).upper()) == data
    assert (hits.n, misses.n) == (2, 0)
    [entry] = cache.entries()
    assert (entry.function_id, entry.version, entry.size, entry.sha256) == ("fn-1", 3, len(data), sha(data))
    assert cache.total_bytes == len(data)


def test_missing_is_a_miss(tmp_path: Path, clock: Clock) -> None:
    hits, misses = Counter(), Counter()
    cache = make(tmp_path, clock, on_hit=hits, on_miss=misses)
    assert cache.get("nope", 1, sha(b"")) is None
    assert (hits.n, misses.n) == (0, 1)


def test_corruption_detected_on_read_removes_files(tmp_path: Path, clock: Clock) -> None:
    misses = Counter()
    cache = make(tmp_path, clock, on_miss=misses)
    data = b"good bytes"
    path = add(cache, "fn", 1, data)
    cache.compiled_path_for("fn", 1).write_bytes(b"compiled")
    path.write_bytes(b"evil bytes")  # tampered on disk after it was cached
    assert cache.get("fn", 1, sha(data)) is None
    assert misses.n == 1
    assert not path.exists()
    assert not cache.compiled_path_for("fn", 1).exists()
    assert cache.entries() == []


def test_wrong_expected_hash_is_a_miss_too(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock)
    add(cache, "fn", 1, b"v1")
    assert cache.get("fn", 1, sha(b"other")) is None
    assert not cache.path_for("fn", 1).exists()


def test_two_versions_side_by_side_and_remove(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock)
    add(cache, "fn", 1, b"one")
    add(cache, "fn", 2, b"two")
    assert [(e.version, e.sha256) for e in cache.entries()] == [(1, sha(b"one")), (2, sha(b"two"))]
    assert cache.get("fn", 1, sha(b"one")) == b"one"
    assert cache.get("fn", 2, sha(b"two")) == b"two"
    cache.remove("fn", 1)
    cache.remove("fn", 1)  # idempotent
    assert [e.version for e in cache.entries()] == [2]
    cache.remove("fn", 2)
    assert not (tmp_path / "fn").exists()


def test_lru_eviction_by_size_counts_compiled_sibling(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock, max_bytes=300)
    add(cache, "a", 1, b"a" * 100)
    add(cache, "b", 1, b"b" * 100)
    cache.compiled_path_for("b", 1).write_bytes(b"c" * 50)
    assert cache.get("a", 1, sha(b"a" * 100)) is not None  # a is now more recent than b
    add(cache, "c", 1, b"c" * 100)  # 350 > 300: b (least recently used) goes, with its .cwasm
    assert [e.function_id for e in cache.entries()] == ["a", "c"]
    assert not cache.compiled_path_for("b", 1).exists()
    assert cache.total_bytes == 200


def test_pinned_entries_are_kept_while_others_can_go(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock, max_bytes=250)
    add(cache, "old", 1, b"o" * 100)
    add(cache, "mid", 1, b"m" * 100)
    cache.pin("old", 1)
    add(cache, "new", 1, b"n" * 100)
    assert [e.function_id for e in cache.entries()] == ["new", "old"]
    cache.unpin("old", 1)
    add(cache, "newer", 1, b"x" * 100)
    assert [e.function_id for e in cache.entries()] == ["new", "newer"]


def test_pinned_evicted_only_when_nothing_else_remains_never_the_new_entry(
    tmp_path: Path, clock: Clock
) -> None:
    cache = make(tmp_path, clock, max_bytes=150)
    add(cache, "p", 1, b"p" * 100)
    cache.pin("p", 1)
    add(cache, "big", 1, b"b" * 100)  # over: only the pinned entry is left to evict
    assert [e.function_id for e in cache.entries()] == ["big"]
    add(cache, "huge", 1, b"h" * 400)  # larger than the bound on its own: kept, the rest goes
    assert [e.function_id for e in cache.entries()] == ["huge"]


def test_restart_keeps_entries_and_lru_order(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock, max_bytes=250)
    add(cache, "a", 1, b"a" * 100)
    add(cache, "b", 1, b"b" * 100)
    cache.get("a", 1, sha(b"a" * 100))
    before = cache.entries()
    restarted = make(tmp_path, clock, max_bytes=250)
    assert restarted.entries() == before
    add(restarted, "c", 1, b"c" * 100)
    assert [e.function_id for e in restarted.entries()] == ["a", "c"]  # b was least recently used


def test_startup_cleans_temp_files_and_half_made_entries(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock)
    add(cache, "ok", 1, b"fine")
    (tmp_path / ".tmp" / "fetch-123.part").write_bytes(b"partial download")
    (tmp_path / "ok" / "2.sha256").write_text(sha(b"x"))  # killed before the .wasm moved in
    (tmp_path / "ok" / "3.cwasm").write_bytes(b"orphan")  # killed while removing v3
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "1.wasm").write_bytes(b"no digest recorded")
    restarted = make(tmp_path, clock)
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["1.sha256", "1.wasm"]
    assert not (tmp_path / "lone").exists()
    assert [(e.function_id, e.version) for e in restarted.entries()] == [("ok", 1)]
    assert restarted.get("ok", 1, sha(b"fine")) == b"fine"


def test_put_replaces_version_and_drops_stale_compiled(tmp_path: Path, clock: Clock) -> None:
    cache = make(tmp_path, clock)
    add(cache, "fn", 1, b"first")
    cache.compiled_path_for("fn", 1).write_bytes(b"compiled first")
    add(cache, "fn", 1, b"second")
    assert not cache.compiled_path_for("fn", 1).exists()
    assert cache.get("fn", 1, sha(b"second")) == b"second"


@pytest.mark.parametrize(("fn", "version"), [("../x", 1), (".tmp", 1), ("a/b", 1), ("", 1), ("ok", -1)])
def test_unsafe_names_refused(tmp_path: Path, clock: Clock, fn: str, version: int) -> None:
    cache = make(tmp_path, clock)
    with pytest.raises(ValueError):
        cache.path_for(fn, version)
