from __future__ import annotations

import struct
import time

import pytest

from edgehost.runtime import FunctionSpec, GuestRequest, InvocationContext, InvokeError, instance
from edgehost.runtime.hostcalls import DEFAULT_MAX_LOG_BYTES, MAX_LOG_LINES, TRUNCATED
from edgehost.runtime.instance import Instance

from .conftest import compile_guest


def test_stdout_and_stderr_captured_into_logs(request_: GuestRequest) -> None:
    response = compile_guest("wasi", entrypoint="stdout").instantiate().invoke(request_, request_id="r")
    assert response.status == 200
    assert [(line.source, line.message) for line in response.logs] == [
        ("stdout", "hello"),
        ("stdout", "world"),
        ("stderr", "oops"),
    ]


def test_environ_comes_from_spec(request_: GuestRequest) -> None:
    compiled = compile_guest("wasi", entrypoint="environ", env={"A": "1", "REGION": "tokyo"})
    response = compiled.instantiate().invoke(request_, request_id="r")
    assert response.body == b"A=1\0REGION=tokyo\0"


@pytest.mark.parametrize("name", ["path_open", "sock_accept"])
def test_denied_wasi_call_is_capability_denied(name: str, request_: GuestRequest) -> None:
    instance = compile_guest("wasi", entrypoint=name).instantiate()
    with pytest.raises(InvokeError) as info:
        instance.invoke(request_, request_id="r")
    assert info.value.code == "capability_denied"
    assert f"wasi_snapshot_preview1.{name}, which is not allowed" in info.value.message
    assert instance.broken


def flood(entrypoint: str, **spec: object) -> Instance:
    return compile_guest("flood", entrypoint=entrypoint, memory_pages=1025, **spec).instantiate()


@pytest.mark.parametrize("entrypoint", ["stdout", "log"])
def test_a_flood_of_output_keeps_max_log_bytes_and_says_it_was_cut(
    entrypoint: str, request_: GuestRequest
) -> None:
    response = flood(entrypoint).invoke(request_, request_id="r")
    kept = "".join(line.message for line in response.logs)
    assert kept.endswith(TRUNCATED) and kept.count(TRUNCATED) == 1
    assert len(kept.encode()) == DEFAULT_MAX_LOG_BYTES + len(TRUNCATED)


def test_a_flood_of_lines_keeps_max_log_lines(request_: GuestRequest) -> None:
    logs = flood("newlines").invoke(request_, request_id="r").logs
    assert len(logs) == MAX_LOG_LINES
    assert logs[-1].message == TRUNCATED  # the last empty line kept, marked


def test_fd_write_with_more_iovecs_than_iov_max_is_einval(request_: GuestRequest) -> None:
    assert flood("iovecs").invoke(request_, request_id="r").body == struct.pack("<I", 28)


def test_random_get_fills_guest_memory_and_stops_at_the_deadline(
    request_: GuestRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert flood("random").invoke(request_, request_id="r").body == struct.pack("<I", 0)
    # The invocation's deadline already past when random_get runs (the epoch deadline is not, so
    # only the host function can notice): it stops between pieces instead of filling on.
    monkeypatch.setattr(instance, "monotonic", lambda: time.monotonic() - 10)
    with pytest.raises(InvokeError) as info:
        flood("random").invoke(request_, request_id="r")
    assert info.value.code == "timeout"
    assert "random_get" in info.value.message


def context() -> InvocationContext:
    return InvocationContext(
        FunctionSpec("f", 1, memory_pages=16, max_execution_ms=50), "r", deadline=0.0, max_log_bytes=20
    )


def test_output_is_charged_as_it_is_copied_including_unfinished_lines() -> None:
    ctx = context()
    ctx.write_stream("stdout", b"abc\nde", 6)
    assert ctx.log_room() == 14  # the held-back "de" counts already
    ctx.write_stream("stdout", b"f\n", 2)
    ctx.log_bytes(2, b"log line", "log", 8)
    assert ctx.log_room() == 4
    # 10 bytes written, 4 copied (what the room allowed): kept, the rest dropped and said so once.
    ctx.write_stream("stderr", b"wxyz", 10)
    ctx.write_stream("stderr", b"", 100)
    assert ctx.log_room() == 0
    assert [(line.source, line.message) for line in ctx.flush_streams()] == [
        ("stdout", "abc"),
        ("stdout", "def"),
        ("log", "log line"),
        ("stderr", "wxyz" + TRUNCATED),
    ]


def test_a_host_line_quoting_guest_data_is_bounded_too() -> None:
    ctx = context()
    ctx.log(0, "http_fetch GET " + "x" * 100 + " refused", "log")
    (line,) = ctx.flush_streams()
    assert line.message == "http_fetch GET xxxxx" + TRUNCATED
