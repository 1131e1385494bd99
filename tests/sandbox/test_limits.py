"""Time, memory and body limits, and trap kinds, through a real runner socket."""

from __future__ import annotations

import struct

import httpx
import pytest

from tests.procs import DevServer
from tests.sandbox.conftest import MAX_BODY_BYTES, expect_failure


def test_an_infinite_loop_answers_504_timeout(sandbox: DevServer) -> None:
    record = expect_failure(sandbox, "loop", 504, "timeout")
    assert "time limit" in record["error_message"]


def test_a_start_function_that_never_returns_fails_the_instantiation_with_a_timeout(
    sandbox: DevServer,
) -> None:
    # ABI.md: instantiation runs under the request's time limit and "fails with a timeout".
    expect_failure(sandbox, "start-loop", 504, "timeout")


@pytest.mark.parametrize("function", ["unreachable", "divzero", "overflow"])
def test_each_trap_kind_answers_500_trap(sandbox: DevServer, function: str) -> None:
    record = expect_failure(sandbox, function, 500, "trap")
    assert "trapped" in record["error_message"]


def test_memory_grow_past_memory_pages_returns_minus_one(sandbox: DevServer) -> None:
    response = httpx.get(f"{sandbox.ingress}/grow", timeout=10)
    assert response.status_code == 200
    # memory_pages = 2 and the module starts with 1: grow(1) succeeds (old size 1), grow(64) fails.
    assert struct.unpack("<ii", response.content) == (1, -1)


def test_a_body_over_max_body_bytes_answers_413_before_any_guest_code(sandbox: DevServer) -> None:
    record = expect_failure(sandbox, "log", 413, "payload_too_large", content=b"x" * (MAX_BODY_BYTES + 1))
    assert "logs" not in record  # log.wat logs on every call it handles
    assert httpx.post(f"{sandbox.ingress}/log", content=b"x" * MAX_BODY_BYTES, timeout=10).status_code == 204
