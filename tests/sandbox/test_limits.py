"""Time, memory and body limits, and trap kinds, through a real runner socket."""

from __future__ import annotations

import struct
from pathlib import Path

import httpx
import pytest

from edgehost.runtime.hostcalls import DEFAULT_MAX_LOG_BYTES, MAX_LOG_LINES, TRUNCATED
from tests.procs import DevServer
from tests.sandbox.conftest import MAX_BODY_BYTES, expect_failure, log_record


def test_an_infinite_loop_answers_504_timeout(sandbox: DevServer) -> None:
    record = expect_failure(sandbox, "loop", 504, "timeout")
    assert "time limit" in record["error_message"]


def test_a_start_function_that_never_returns_fails_the_instantiation_with_a_timeout(
    sandbox: DevServer,
) -> None:
    # docs/abi.md: instantiation runs under the request's time limit and "fails with a timeout".
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


def peak_rss_mib(dev: DevServer) -> float:
    """The dev process's peak resident memory so far (VmHWM): a memory bound, not a timing."""
    for line in Path(f"/proc/{dev.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


@pytest.mark.parametrize(
    ("function", "told"),
    [
        ("flood-stdout", 64 << 20),  # 8 x 64 MiB to stdout without a newline
        ("flood-log", 0),  # 8 edgefn.log lines of 64 MiB
    ],
)
def test_guest_output_is_bounded_in_bytes_where_it_is_copied(
    sandbox: DevServer, function: str, told: int
) -> None:
    before = peak_rss_mib(sandbox)
    response = httpx.get(f"{sandbox.ingress}/{function}", timeout=60)
    assert response.status_code == 200
    assert struct.unpack("<I", response.content) == (told,)  # fd_write says it all went out: no retries
    logs = log_record(sandbox, response.headers["x-request-id"])["logs"]
    kept = "".join(line["message"] for line in logs)
    assert kept.endswith(TRUNCATED)
    assert len(kept.encode()) <= DEFAULT_MAX_LOG_BYTES + len(TRUNCATED)
    # Copying it all made the process peak 1.1 GB above this (and answer seconds late).
    assert peak_rss_mib(sandbox) - before < 100


def test_a_flood_of_empty_lines_is_bounded_in_lines(sandbox: DevServer) -> None:
    response = httpx.get(f"{sandbox.ingress}/flood-newlines", timeout=30)
    assert response.status_code == 200
    assert struct.unpack("<I", response.content) == (1 << 20,)
    logs = log_record(sandbox, response.headers["x-request-id"])["logs"]
    assert len(logs) == MAX_LOG_LINES
    assert logs[-1]["message"].endswith(TRUNCATED)


def test_more_iovecs_than_iov_max_is_einval(sandbox: DevServer) -> None:
    response = httpx.get(f"{sandbox.ingress}/flood-iovecs", timeout=30)
    assert response.status_code == 200
    assert struct.unpack("<I", response.content) == (28,)  # WASI errno EINVAL, as POSIX writev
