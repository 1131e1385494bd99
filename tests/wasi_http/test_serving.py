"""wasi:http components served by a real runner socket beside ABI v1 guests: answers, streamed
bodies, environment, output, timers, and every failure answered like a core module's."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.component_guests import build_component
from tests.procs import DevServer, get, run_cli, write_project
from tests.sandbox.conftest import expect_failure, log_record


def test_a_minimal_component_answers_with_its_headers_and_body(components: DevServer) -> None:
    response = get(f"{components.ingress}/minimal")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.text == "hello from a component\n"


def test_echo_returns_method_path_query_headers_and_a_streamed_one_megabyte_body(
    components: DevServer,
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value
    response = httpx.put(
        f"{components.ingress}/echo?q=1&r=two%20x",
        content=body,
        headers={"x-thing": "value 1", "x-other": "2"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    head, _, echoed = response.content.partition(b"\n")
    assert head == b"PUT /echo?q=1&r=two%20x"
    assert echoed == body
    assert response.headers["x-thing"] == "value 1"
    assert response.headers["x-other"] == "2"


def test_a_request_method_outside_the_common_ones_arrives_by_name(components: DevServer) -> None:
    response = httpx.request("PURGE", f"{components.ingress}/echo", timeout=10)
    assert response.content.split(b"\n")[0] == b"PURGE /echo"


def test_a_response_written_in_many_pieces_arrives_whole(components: DevServer) -> None:
    response = get(f"{components.ingress}/response")
    assert response.status_code == 200
    assert response.content == b"0123456789abcdef" * 4 * 1024


def test_the_environment_is_the_functions_env(components: DevServer) -> None:
    response = get(f"{components.ingress}/vars")
    assert response.status_code == 200
    assert response.text.splitlines() == ["GREETING=hi there", "MODE=test"]


def test_stdout_goes_into_the_invocation_log_line(components: DevServer) -> None:
    response = get(f"{components.ingress}/out")
    assert response.status_code == 200
    logs = log_record(components, response.headers["x-request-id"])["logs"]
    assert [(line["source"], line["message"]) for line in logs] == [("stdout", "hello from stdout")]


def test_a_guest_timer_really_waits(components: DevServer) -> None:
    """The guest blocks on a 30 ms monotonic-clock pollable: the answer comes after it (not a
    timing assertion on the runner's speed: a lower bound the guest itself asked for)."""
    response = get(f"{components.ingress}/wait")
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.03


def test_a_runaway_component_answers_504_and_the_runner_keeps_serving(components: DevServer) -> None:
    expect_failure(components, "loop", 504, "timeout")
    assert get(f"{components.ingress}/minimal").status_code == 200


def test_a_trapping_component_answers_500_trap_and_the_runner_keeps_serving(components: DevServer) -> None:
    record = expect_failure(components, "trap", 500, "trap")
    assert "unreachable" in record["error_message"]
    assert get(f"{components.ingress}/trap-not").status_code in (404, 500)
    assert get(f"{components.ingress}/minimal").status_code == 200


def test_a_denied_socket_call_answers_500_capability_denied(components: DevServer) -> None:
    record = expect_failure(components, "net", 500, "capability_denied")
    assert "wasi:sockets/instance-network@0.2.0#instance-network" in record["error_message"]


def refusal(tmp_path: Path, wasm: bytes, settings: str = "") -> str:
    """What `edgefn build` (the control plane's finalize checks, run before anything is sent)
    says of a project with this one function; it must refuse it."""
    toml = f'project = "p"\n[[functions]]\nname = "f"\nwasm = "f.wasm"\n{settings}\n'
    project = write_project(tmp_path / "p", toml, {"f.wasm": wasm})
    result = run_cli("build", "--project", str(project))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_a_component_over_memory_pages_is_refused_at_registration(tmp_path: Path) -> None:
    said = refusal(tmp_path, build_component("minimal", memory_pages=17), "memory_pages = 16")
    assert "the component has a memory of 17 pages at start but the function allows 16" in said


def test_an_unsupported_import_is_refused_at_registration_by_name(tmp_path: Path) -> None:
    said = refusal(tmp_path, build_component("nope"))
    assert "the component imports edgefn:guests/nope, which a runner does not provide" in said


def test_bad_bytes_with_a_component_preamble_are_refused_in_one_line(tmp_path: Path) -> None:
    said = refusal(tmp_path, b"\0asm\x0d\x00\x01\x00\x01\xff\xff")
    assert "the component is not valid" in said


def test_denied_imports_are_reported_at_registration(components: DevServer) -> None:
    assert "wasi:sockets/instance-network@0.2.0" in components.stderr


def _reuses(dev: DevServer, function: str) -> float:
    text = httpx.get(f"{dev.metrics}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "edgefn_pool_reuses_total"
                and sample.labels["function_id"] == f"sandbox.{function}"
            ):
                return sample.value
    return 0.0


def test_hot_instances_serve_request_after_request(components: DevServer) -> None:
    before = _reuses(components, "minimal")
    for _ in range(3):
        assert get(f"{components.ingress}/minimal").status_code == 200
    assert _reuses(components, "minimal") >= before + 3
