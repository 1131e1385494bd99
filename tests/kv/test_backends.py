"""The `sqlite` and `redis` backends keep one contract (edgehost/kv): checked against a real file
and a real redis-server, by examples and by a seeded random sequence compared with a dict."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgehost.kv import KvLimits, KvQuotaExceeded, KvStore, KvTimeout, KvTooLarge, KvUnavailable
from edgehost.kv.redis_store import RedisKvStore
from edgehost.kv.sqlite_store import SqliteKvStore
from tests.services import RedisServer, free_port

LIMITS = KvLimits()
MakeStore = Callable[..., KvStore]
T = 2.0  # seconds a call may wait; generous, no call here should come near it


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """A factory of stores over one fresh backing store, so two of them see each other's writes."""
    made: list[KvStore] = []
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        db = request.node.nodeid.__hash__() % 15 + 1  # a database of its own, flushed first
        RedisKvStore(f"{server.url}/{db}", KvLimits())._call(T, "FLUSHDB")

    def make(limits: KvLimits = LIMITS) -> KvStore:
        if request.param == "redis":
            store: KvStore = RedisKvStore(f"{server.url}/{db}", limits)
        else:
            store = SqliteKvStore(tmp_path / "kv.db", limits)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def test_set_get_delete_and_keys(make_store: MakeStore) -> None:
    store = make_store()
    assert store.get("p", "s", b"k", T) is None
    store.set("p", "s", b"k", b"v1", T)
    store.set("p", "s", b"k", b"v2", T)
    assert store.get("p", "s", b"k", T) == b"v2"
    store.set("p", "s", b"", b"empty key", T)
    store.set("p", "s", b"a*[?\\", b"glob characters are literal", T)
    store.set("p", "other", b"k", b"other store", T)
    store.set("q", "s", b"k", b"other project", T)
    assert store.get("p", "s", b"", T) == b"empty key"
    assert store.keys("p", "s", b"", 100, T) == [b"", b"a*[?\\", b"k"]
    assert store.keys("p", "s", b"a*", 100, T) == [b"a*[?\\"]
    assert store.keys("p", "s", b"", 2, T) == [b"", b"a*[?\\"]
    store.delete("p", "s", b"k", T)
    store.delete("p", "s", b"k", T)  # absent: no error
    assert store.get("p", "s", b"k", T) is None
    assert store.get("p", "other", b"k", T) == b"other store"
    assert store.get("q", "s", b"k", T) == b"other project"


def test_values_are_bytes_and_survive_a_new_store(make_store: MakeStore) -> None:
    value = bytes(range(256)) * 10
    make_store().set("p", "s", b"\x00\xff", value, T)
    assert make_store().get("p", "s", b"\x00\xff", T) == value


def test_limits_refuse_and_change_nothing(make_store: MakeStore) -> None:
    store = make_store(KvLimits(max_value_bytes=10, max_project_bytes=30))
    with pytest.raises(KvTooLarge, match="513 bytes"):
        store.set("p", "s", b"k" * 513, b"v", T)
    with pytest.raises(KvTooLarge, match=r"kv\.max_value_bytes"):
        store.set("p", "s", b"k", b"v" * 11, T)
    store.set("p", "s", b"a", b"v" * 10, T)  # 11 bytes
    store.set("p", "s", b"b", b"v" * 10, T)  # 22
    with pytest.raises(KvQuotaExceeded, match=r"kv\.max_project_bytes"):
        store.set("p", "t", b"c", b"v" * 10, T)  # 33 > 30: the quota spans the project's stores
    assert store.get("p", "t", b"c", T) is None
    assert store.usage("p", T) == 22
    store.set("p", "s", b"a", b"v", T)  # shrinking needs no room: 13
    store.set("p", "t", b"c", b"v" * 10, T)  # 24
    store.set("q", "s", b"a", b"v" * 10, T)  # another project has its own quota
    assert store.usage("p", T) == 24
    store.delete("p", "s", b"b", T)
    assert store.usage("p", T) == 13


def test_usage_follows_a_random_sequence_of_writes(make_store: MakeStore) -> None:
    """Property: after any sequence, every key reads what a dict says, and usage is its byte sum."""
    rng = random.Random(17)
    store = make_store(KvLimits(max_value_bytes=64, max_project_bytes=600))
    model: dict[tuple[str, bytes], bytes] = {}
    for _ in range(400):
        where = (rng.choice(["s", "t"]), bytes([rng.randrange(97, 103)]) * rng.randrange(1, 4))
        if rng.random() < 0.3:
            store.delete("p", where[0], where[1], T)
            model.pop(where, None)
            continue
        value = rng.randbytes(rng.randrange(0, 65))
        old = model.get(where)
        grows = len(where[1]) + len(value) - (len(where[1]) + len(old) if old is not None else 0)
        used = sum(len(k) + len(v) for (_, k), v in model.items())
        try:
            store.set("p", where[0], where[1], value, T)
            model[where] = value
        except KvQuotaExceeded:
            assert grows > 0 and used + grows > 600
    for (name, key), value in model.items():
        assert store.get("p", name, key, T) == value
    assert store.usage("p", T) == sum(len(k) + len(v) for (_, k), v in model.items())
    for name in ("s", "t"):
        assert store.keys("p", name, b"", 1000, T) == sorted(k for (n, k) in model if n == name)


def test_a_redis_nobody_listens_on_is_unavailable_at_once() -> None:
    store = RedisKvStore(f"redis://127.0.0.1:{free_port()}", KvLimits(timeout_s=5))
    started = time.monotonic()
    with pytest.raises(KvUnavailable, match="redis is unavailable"):
        store.get("p", "s", b"k", 5)
    assert time.monotonic() - started < 5  # refused, not waited out (not a timing measurement)


def test_a_redis_that_never_answers_times_out_and_the_store_recovers(redis_server: RedisServer) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes connections; nothing ever answers
        store = RedisKvStore(f"redis://127.0.0.1:{silent.getsockname()[1]}", KvLimits(timeout_s=0.2))
        with pytest.raises(KvTimeout):
            store.set("p", "s", b"k", b"v", 0.2)
        store.close()
    store = RedisKvStore(redis_server.url, KvLimits(timeout_s=0.2))
    with pytest.raises(KvTimeout, match="no time was left"):
        store.get("p", "s", b"k", 0)  # an invocation whose deadline has passed asks nothing
    store.set("p", "s", b"k", b"v", T)
    assert store.get("p", "s", b"k", T) == b"v"
    store.close()


def test_a_call_gives_up_at_its_own_timeout_while_redis_is_busy(redis_server: RedisServer) -> None:
    """Redis runs one script at a time: a busy one holds every other client's answer back. The call
    stops waiting at its timeout although the connection's socket timeout (kv.timeout_s) is longer."""
    store = RedisKvStore(redis_server.url, KvLimits(timeout_s=10))
    store.set("p", "s", b"k", b"v", T)  # connected and handshaken: only the answer is awaited below
    busy = RedisKvStore(redis_server.url, KvLimits(timeout_s=10))
    spin = "local t = redis.call('TIME') repeat until redis.call('TIME')[1] - t[1] >= 2 return 0"
    worker = threading.Thread(target=busy._call, args=(10, "EVAL", spin, 0))
    worker.start()
    try:
        time.sleep(0.2)  # the script has started (not a timing assertion: a late start fails loudly)
        with pytest.raises(KvTimeout, match="did not answer"):
            store.get("p", "s", b"k", 0.3)
    finally:
        worker.join()
        busy.close()
    assert store.get("p", "s", b"k", T) == b"v"  # the timed-out connection was dropped, not reused
    store.close()


def test_redis_stopped_and_restarted_fails_then_recovers(redis_server: RedisServer) -> None:
    store = RedisKvStore(redis_server.url, KvLimits(timeout_s=1))
    store.set("p", "s", b"k", b"v", T)
    redis_server.stop()
    try:
        with pytest.raises(KvUnavailable):
            store.get("p", "s", b"k", T)
    finally:
        redis_server.start()
    store.set("p", "s", b"k", b"again", T)  # a fresh connection; the pooled one died with the server
    assert store.get("p", "s", b"k", T) == b"again"
    store.close()
