"""Errors keep their cause: a guest's trap answers with its reason and innermost frames (and logs
them), and a selector that does not parse is refused with a sentence giving the position."""

from __future__ import annotations

from pathlib import Path

from tests.procs import dev_server, get, run_cli, wait_until, write_project

# Each function traps in a named inner function, so the frames are recognisable.
TRAPS = {
    "unreachable": ("(unreachable)", "wasm `unreachable` instruction executed"),
    "divide": ("(drop (i32.div_u (i32.const 1) (i32.const 0)))", "integer divide by zero"),
    "outside": ("(drop (i64.load (i32.const 0x7ffffff0)))", "out of bounds memory access"),
}


def trapping_wat(body: str) -> str:
    return f"""(module
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func $explode {body})
  (func $middle (call $explode))
  (func (export "handle") (param i32 i32) (result i64) (call $middle) (i64.const 0)))
"""


def test_a_trap_answers_and_logs_its_reason_and_frames(tmp_path: Path) -> None:
    toml = 'project = "traps"\n'
    files = {}
    for name, (body, _) in TRAPS.items():
        toml += f'[[functions]]\nname = "{name}"\nwasm = "{name}.wat"\n'
        toml += f'[[routes]]\npath = "/{name}"\nfunction = "{name}"\n[[deployments]]\nfunction = "{name}"\n'
        files[f"{name}.wat"] = trapping_wat(body)
    project = write_project(tmp_path / "traps", toml, files)
    with dev_server(project, tmp_path / "logs") as dev:
        for name, (_, reason) in TRAPS.items():
            answer = get(f"{dev.ingress}/{name}")
            assert answer.status_code == 500
            detail = answer.json()["detail"]
            assert reason in detail, detail
            assert "backtrace: explode @0x" in detail and ", middle @0x" in detail, detail
            logged = wait_until(
                lambda: [line for line in dev.json_lines() if line.get("path") == f"/{name}"],  # noqa: B023
                what="the invocation's log line",
            )
            assert logged[-1]["error_message"] == detail, dev.stdout


def test_a_selector_that_does_not_parse_is_a_sentence_with_its_position(tmp_path: Path) -> None:
    result = run_cli("nodes", "--selector", "region = 'tokyo'", "--token", "t")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: selector \"region = 'tokyo'\" does not parse at line 1, column 8: "
        "'=' is not allowed here (compare with ==)"
    )
    project = write_project(
        tmp_path,
        'project = "p"\n[[functions]]\nname = "f"\nwasm = "f.wasm"\n'
        "[[deployments]]\nfunction = \"f\"\nselector = \"region == 'a' and tier == 'b'\"\n",
    )
    deployed = run_cli("deploy", "--token", "t", cwd=project)
    assert deployed.returncode == 2
    assert "column 15: found 'and' where an operator" in deployed.stderr, deployed.stderr
    assert "(CEL writes 'and' as &&)" in deployed.stderr
