"""Requirement 8.4 and the live tail: one JSON line per invocation; `edgefn tail` streams them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.observability.projects import project
from tests.procs import EdgefnProcess, dev_server, get, run_cli, wait_until

KEYS = {
    "request_id",
    "function_id",
    "node_id",
    "start_timestamp",
    "end_timestamp",
    "execution_status",
    "error_message",
    "error_code",
    "duration_ms",
    "status",
}


def test_one_json_line_per_invocation_with_every_key(tmp_path: Path) -> None:
    proj = project(tmp_path / "p", "logged", ("hello", "log", "boom"))
    with dev_server(proj, tmp_path / "logs") as dev:
        ids = {
            path: get(f"{dev.ingress}/{path}").headers["x-request-id"] for path in ("hello", "log", "boom")
        }
        records = wait_until(
            lambda: (
                (r := {rec["request_id"]: rec for rec in dev.json_lines()}).keys() >= set(ids.values()) and r
            ),
            what="three invocation lines",
        )
        assert all(line.startswith("{") for line in dev.stdout.splitlines())  # stdout holds only records
        assert len(dev.json_lines()) == 3
    for rec in records.values():
        assert rec.keys() >= KEYS, KEYS - rec.keys()
        assert rec["node_id"] == "dev"
        assert rec["event"] == "invocation"  # how a pipeline tells them from the process's own lines
        assert rec["end_timestamp"] >= rec["start_timestamp"]
    ok, logged, failed = (records[ids[p]] for p in ("hello", "log", "boom"))
    assert (ok["function_id"], ok["status"], ok["execution_status"]) == ("logged.hello", 200, "ok")
    assert ok["error_code"] is None and ok["error_message"] is None
    assert logged["logs"] == [{"level": "warn", "message": "hi from guest", "source": "log"}]
    assert (failed["status"], failed["execution_status"], failed["error_code"]) == (500, "error", "trap")
    assert failed["error_message"]


def test_tail_streams_a_projects_invocations_and_is_authorised_like_a_read(tmp_path: Path) -> None:
    proj = project(tmp_path / "p", "tailed", ("hello", "boom"))
    with dev_server(proj, tmp_path / "logs") as dev:
        tail = EdgefnProcess(
            [
                "tail",
                "hello",
                "--project",
                "tailed",
                "--api",
                dev.api,
                "--token",
                dev.token,
                "--format",
                "json",
            ],
            cwd=tmp_path,
            env=None,
            log_dir=tmp_path / "logs",
            name="tail",
        )
        try:
            wait_until(lambda: "tailing tailed (hello)" in tail.stderr, what="the tail to connect")
            # The runner learns about the tail through a long-poll: until then, lines are not forwarded.
            wait_until(lambda: get(f"{dev.ingress}/hello") and tail.stdout, interval=0.2, what="a first line")
            boom = get(f"{dev.ingress}/boom").headers["x-request-id"]
            hello = get(f"{dev.ingress}/hello").headers["x-request-id"]
            wait_until(lambda: hello in tail.stdout, timeout=5, what="the line of one request")
            lines = [json.loads(line) for line in tail.stdout.splitlines()]
            assert {line["function_id"] for line in lines} == {"tailed.hello"}  # boom's line filtered out
            assert boom not in tail.stdout
            assert next(line for line in lines if line["request_id"] == hello)["status"] == 200
        finally:
            tail.stop()
        other = run_cli("token", "--subject", "mallory", "--state-dir", str(dev.state_dir)).stdout.strip()
        refused = run_cli("tail", "--project", "tailed", "--api", dev.api, "--token", other)
        assert refused.returncode == 1
        assert "403" in refused.stderr
