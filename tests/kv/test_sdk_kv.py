"""The C SDK's KV helpers and `getenv`, through functions/counter on the real runtime with a real
SQLite store: counts survive instances, the environment greets, a failing store answers 503."""

from __future__ import annotations

from pathlib import Path

from edgehost.guestbuild import load_guest_bytes
from edgehost.kv import KvLimits, KvUnavailable
from edgehost.kv.hostcalls import KvCalls
from edgehost.kv.sqlite_store import SqliteKvStore
from edgehost.runtime import CompiledFunction, FunctionSpec, GuestRequest, builtin_host_functions
from tests.procs import REPO

COUNTER = REPO / "functions" / "counter" / "counter.c"


def compiled(store: object, env: dict[str, str] | None = None) -> CompiledFunction:
    calls = KvCalls(lambda: store, KvLimits())  # type: ignore[arg-type, return-value]
    spec = FunctionSpec(
        "site.counter", 1, kv=("default",), env=env or {}, memory_pages=16, max_execution_ms=5000
    )
    hosts = [*builtin_host_functions(), *calls.host_functions()]
    return CompiledFunction.load(spec, load_guest_bytes(COUNTER), host_functions=hosts)


def visit(fn: CompiledFunction, path: str) -> tuple[int, str]:
    response = fn.instantiate().invoke(GuestRequest("GET", path, [], b""), request_id="r")
    return response.status, response.body.decode()


def test_the_counter_keeps_counts_in_the_store_and_greets_from_env(tmp_path: Path) -> None:
    store = SqliteKvStore(tmp_path / "kv.db", KvLimits())
    fn = compiled(store, env={"GREETING": "Howdy"})
    assert visit(fn, "/a") == (200, "Howdy, visitor 1 of /a\n")
    assert visit(fn, "/a") == (200, "Howdy, visitor 2 of /a\n")  # a fresh instance: the count is in the store
    assert visit(fn, "/b?x=1") == (200, "Howdy, visitor 1 of /b\n")
    assert store.get("site", "default", b"/a", 1) == b"2"
    assert visit(compiled(store), "/a") == (200, "Hi, visitor 3 of /a\n")


class Down:
    limits = KvLimits()

    def get(self, *args: object) -> None:
        raise KvUnavailable("redis is unavailable: connection refused")

    set = delete = get


def test_a_store_that_is_down_answers_503_with_the_code() -> None:
    assert visit(compiled(Down()), "/a") == (503, "the KV store failed: -3\n")
