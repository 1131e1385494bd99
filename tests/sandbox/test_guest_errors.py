"""Malformed responses, denied WASI calls and captured guest output, through a real runner socket."""

from __future__ import annotations

import pytest

from tests.procs import DevServer, get
from tests.sandbox.conftest import expect_failure, log_record


@pytest.mark.parametrize("function", ["oob", "bad-status"])
def test_a_malformed_response_answers_500_bad_response(sandbox: DevServer, function: str) -> None:
    record = expect_failure(sandbox, function, 500, "bad_response")
    assert ("outside guest memory" if function == "oob" else "outside 200..599") in record["error_message"]


@pytest.mark.parametrize("call", ["path_open", "sock_accept"])
def test_a_denied_wasi_call_answers_500_capability_denied(sandbox: DevServer, call: str) -> None:
    record = expect_failure(sandbox, call.replace("_", "-"), 500, "capability_denied")
    assert f"wasi_snapshot_preview1.{call}" in record["error_message"]


def test_stdout_stderr_and_edgefn_log_go_into_the_invocation_log_line(sandbox: DevServer) -> None:
    printed = get(f"{sandbox.ingress}/stdout")
    assert printed.status_code == 200
    logs = log_record(sandbox, printed.headers["x-request-id"])["logs"]
    assert [(line["source"], line["message"]) for line in logs] == [
        ("stdout", "hello"),
        ("stdout", "world"),
        ("stderr", "oops"),
    ]
    logged = get(f"{sandbox.ingress}/log")
    assert logged.status_code == 204
    logs = log_record(sandbox, logged.headers["x-request-id"])["logs"]
    assert [(line["source"], line["message"]) for line in logs] == [("log", "hi from guest")]
