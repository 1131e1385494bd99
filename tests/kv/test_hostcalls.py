"""The KV host functions' return codes (docs/abi.md), in-process on a real wasmtime instance and a
real SQLite store; a failing store is a stand-in raising the backend's errors (unit level)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from edgehost.kv import KvError, KvLimits, KvQuotaExceeded, KvStore, KvTimeout, KvUnavailable
from edgehost.kv.hostcalls import KvCalls
from edgehost.kv.sqlite_store import SqliteKvStore
from edgehost.runtime import CompiledFunction, FunctionSpec, GuestRequest, Instance
from tests.runtime.conftest import guest_wasm

GET, SET, DELETE = 0, 1, 2
DEFAULT, CARTS, KEY, VALUE = (16, 7), (32, 5), (48, 1), (64, 5)
LIMITS = KvLimits()
OUTSIDE = 2 * 65536  # the first byte past the guest's two pages


def instance(store: KvStore, limits: KvLimits = LIMITS, grants: tuple[str, ...] = ("default",)) -> Instance:
    calls = KvCalls(lambda: store, limits)
    spec = FunctionSpec("shop.fn", 1, kv=grants, memory_pages=16, max_execution_ms=5000)
    return CompiledFunction.load(
        spec, guest_wasm("kv_raw"), host_functions=calls.host_functions()
    ).instantiate()


def call(
    inst: Instance, op: int, store: tuple[int, int], key: tuple[int, int], value: tuple[int, int] = (0, 0)
) -> int:
    body = struct.pack("<7I", op, *store, *key, *value)
    response = inst.invoke(GuestRequest("POST", "/", [], body), request_id="r")
    assert response.status == 200
    return int(struct.unpack("<q", response.body)[0])


@pytest.fixture
def sqlite(tmp_path: Path) -> SqliteKvStore:
    return SqliteKvStore(tmp_path / "kv.db", KvLimits())


def test_set_get_delete_round_trip_in_the_functions_project(sqlite: SqliteKvStore) -> None:
    inst = instance(sqlite)
    assert call(inst, GET, DEFAULT, KEY) == -1
    assert call(inst, SET, DEFAULT, KEY, VALUE) == 0
    packed = call(inst, GET, DEFAULT, KEY)
    assert packed & 0xFFFFFFFF == 5 and packed >> 32 >= 65536  # allocated through edgefn_alloc
    assert sqlite.get("shop", "default", b"k", 1) == b"value"  # project from function id shop.fn
    assert call(inst, DELETE, DEFAULT, KEY) == 0
    assert call(inst, DELETE, DEFAULT, KEY) == 0
    assert call(inst, GET, DEFAULT, KEY) == -1


def test_a_store_the_function_was_not_granted_is_minus_6(sqlite: SqliteKvStore) -> None:
    sqlite.set("shop", "carts", b"k", b"secret", 1)
    inst = instance(sqlite)
    assert call(inst, GET, CARTS, KEY) == -6
    assert call(inst, SET, CARTS, KEY, VALUE) == -6
    assert call(inst, DELETE, CARTS, KEY) == -6
    assert call(inst, GET, (16, 6), KEY) == -6  # "defaul": a prefix of a granted name is not it
    assert call(inst, GET, (16, 100), KEY) == -6  # nor is a longer one
    assert sqlite.get("shop", "carts", b"k", 1) == b"secret"


@pytest.mark.parametrize(
    ("op", "store", "key", "value"),
    [
        (GET, (OUTSIDE, 7), KEY, (0, 0)),
        (GET, DEFAULT, (OUTSIDE - 1, 2), (0, 0)),
        (GET, DEFAULT, (48, 0xFFFFFFFF), (0, 0)),
        (SET, (OUTSIDE - 3, 7), KEY, VALUE),
        (SET, DEFAULT, KEY, (64, OUTSIDE)),
        (SET, DEFAULT, (OUTSIDE, 0xFFFFFFFF), VALUE),
        (DELETE, DEFAULT, (OUTSIDE, 1), (0, 0)),
        (DELETE, (0xFFFFFFFF, 1), KEY, (0, 0)),
    ],
)
def test_a_pointer_or_length_outside_memory_is_minus_2(
    sqlite: SqliteKvStore, op: int, store: tuple[int, int], key: tuple[int, int], value: tuple[int, int]
) -> None:
    assert call(instance(sqlite), op, store, key, value) == -2
    assert sqlite.keys("shop", "default", b"", 10, 1) == []


def test_a_key_over_512_bytes_or_a_value_over_the_limit_is_minus_5(sqlite: SqliteKvStore) -> None:
    inst = instance(sqlite, KvLimits(max_value_bytes=4))
    assert call(inst, SET, DEFAULT, KEY, VALUE) == -5  # "value" is 5 bytes
    assert call(inst, SET, DEFAULT, KEY, (64, 4)) == 0
    assert call(inst, SET, DEFAULT, (0, 513), (64, 1)) == -5
    assert call(inst, SET, DEFAULT, (0, 512), (64, 1)) == 0
    assert call(inst, GET, DEFAULT, (0, 513)) == -1  # no such key can exist
    assert call(inst, DELETE, DEFAULT, (0, 513)) == 0
    assert sorted(len(k) for k in sqlite.keys("shop", "default", b"", 10, 1)) == [1, 512]


class Failing:
    """A store whose every call raises `error` (the backend's way of saying it is down or slow)."""

    def __init__(self, error: KvError) -> None:
        self.error = error
        self.limits = KvLimits()
        self.timeouts: list[float] = []

    def _fail(self, *args: object) -> None:
        self.timeouts.append(float(args[-1]))  # type: ignore[arg-type]
        raise self.error

    get = set = delete = keys = usage = _fail

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (KvUnavailable("redis is unavailable: refused"), -3),
        (KvTimeout("slow"), -4),
        (KvQuotaExceeded("full"), -7),
    ],
)
def test_a_failing_store_answers_its_code_and_the_log_says_why(error: KvError, code: int) -> None:
    store = Failing(error)
    inst = instance(store, KvLimits(timeout_s=0.25))  # type: ignore[arg-type]
    body = struct.pack("<7I", SET, *DEFAULT, *KEY, *VALUE)
    response = inst.invoke(GuestRequest("POST", "/", [], body), request_id="r")
    assert struct.unpack("<q", response.body)[0] == code
    assert [line.message for line in response.logs] == [f"kv_set on store 'default' failed ({code}): {error}"]
    assert call(inst, GET, DEFAULT, KEY) == code
    # Each call may wait kv.timeout_s at most (less when the invocation's deadline is nearer).
    assert store.timeouts and all(0 < t <= 0.25 for t in store.timeouts)
