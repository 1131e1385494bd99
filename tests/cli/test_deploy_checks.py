"""Deploy is all or nothing: `edgefn build` and `deploy` give every guest the control plane's
finalize checks offline, so a guest it would refuse sends nothing and uses up no version."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import httpx
import pytest

from edgehost.project import check
from edgehost.project.schema import FunctionDef
from edgehost.toolchains import process
from tests.cli.helpers import ControlPlane, hello_project
from tests.procs import answering_wat, dev_server, run_cli, wait_until

GOOD = answering_wat("ok")
# One module per check of finalize (the ABI's "Module shape", "Host functions", "Limits"), with
# the words of the refusal: the same `validate_module` runs locally and on the control plane.
REFUSED = {
    "no memory export": (GOOD.replace('(export "memory") ', ""), "export its linear memory"),
    "no edgefn_alloc": (GOOD.replace('(export "edgefn_alloc")', ""), "edgefn_alloc"),
    "handle of the wrong type": (
        GOOD.replace("(param i32 i32) (result i64)\n", "(param i32) (result i64) i64.const 0 return\n"),
        "the export handle must be a function",
    ),
    "too much memory": (GOOD.replace('(export "memory") 1', '(export "memory") 40'), "40 memory pages"),
    "an unknown host function": (
        GOOD.replace("(module\n", '(module\n  (import "edgefn" "teleport" (func))\n'),
        "teleport",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_build_refuses_what_the_control_plane_would(tmp_path: Path, case: str) -> None:
    source, reason = REFUSED[case]
    (tmp_path / "bad.wat").write_text(source)
    result = run_cli("build", "bad.wat", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert reason in result.stderr and "Traceback" not in result.stderr
    assert "accepted" not in result.stdout


def test_a_refused_guest_sends_nothing(control_plane: ControlPlane, tmp_path: Path) -> None:
    token = control_plane.token("dora")
    project = hello_project(tmp_path / "p", "allornothing", "first", "second")
    good = (project / "second.wat").read_text()
    (project / "second.wat").write_text(REFUSED["no edgefn_alloc"][0])

    built = run_cli("build", cwd=project)  # every function of the project file
    assert built.returncode == 2 and "function second (second.wat)" in built.stderr, built.stderr

    refused = run_cli("deploy", "--api", control_plane.api, "--token", token, cwd=project)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "function second (second.wat)" in refused.stderr and "edgefn_alloc" in refused.stderr
    # Not even `first`, which was fine and comes before it in the file, reached the control plane.
    missing = httpx.get(
        f"{control_plane.api}/v1/projects/allornothing/functions",
        headers={"authorization": f"Bearer {token}"},
    )
    assert missing.status_code == 404 or missing.json()["functions"] == []

    (project / "second.wat").write_text(good)
    assert "accepted" in run_cli("build", cwd=project).stdout
    fixed = run_cli("deploy", "--api", control_plane.api, "--token", token, cwd=project)
    assert fixed.returncode == 0, fixed.stderr
    assert control_plane.versions("allornothing", token) == {"first": [1], "second": [1]}  # none used up


def test_dev_reports_a_refused_guest_before_sending_it(tmp_path: Path) -> None:
    project = hello_project(tmp_path / "p", "devcheck", "hello")
    with dev_server(project, tmp_path / "logs") as dev:
        toml = project / "edgefn.toml"
        (project / "bad.wat").write_text(REFUSED["too much memory"][0])
        toml.write_text(toml.read_text() + '[[functions]]\nname = "bad"\nwasm = "bad.wat"\n')
        wait_until(lambda: "function bad (bad.wat)" in dev.stderr, timeout=30, what="the refusal")
        assert "40 memory pages" in dev.stderr and "not applied" in dev.stderr
        functions = httpx.get(
            f"{dev.api}/v1/projects/devcheck/functions", headers={"authorization": f"Bearer {dev.token}"}
        ).json()["functions"]
        assert [f["name"] for f in functions] == ["hello"]  # bad never registered a version


def test_build_checks_a_source_with_its_functions_settings(tmp_path: Path) -> None:
    big = REFUSED["too much memory"][0]  # 40 pages: over the default memory_pages (16)
    project = tmp_path / "p"
    project.mkdir()
    (project / "big.wat").write_text(big)
    (project / "edgefn.toml").write_text(
        'project = "pages"\n[[functions]]\nname = "big"\nwasm = "big.wat"\nmemory_pages = 64\n'
    )
    named = run_cli("build", "big.wat", cwd=project)
    assert named.returncode == 0 and "accepted" in named.stdout, named.stderr
    (tmp_path / "loose.wat").write_text(big)
    loose = run_cli("build", "loose.wat", cwd=tmp_path)  # no project names it: the defaults
    assert loose.returncode == 2 and "allows 16" in loose.stderr, loose.stderr


@pytest.mark.parametrize(("after_s", "said"), [(0.0, True), (600.0, False)])
def test_a_slow_check_says_what_it_is_doing_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    after_s: float,
    said: bool,
) -> None:
    """Checking compiles the module (seconds for a Python or JS component): a check still running
    after SLOW_BUILD_NOTICE_S says so once; a quick one says nothing. validate_module is replaced
    by one that runs until the notice is out (or briefly), so no timing decides the outcome."""
    monkeypatch.setattr(process, "SLOW_BUILD_NOTICE_S", after_s)

    def validate(wasm: bytes, spec: object, *, host_functions: object) -> None:
        with contextlib.suppress(AssertionError):
            wait_until(lambda: "still checking" in caplog.text, timeout=0.5 if not said else 15)

    monkeypatch.setattr(check, "validate_module", validate)
    fn = FunctionDef(name="api", wasm=tmp_path / "api.wasm", memory_pages=1024, max_execution_ms=1000)
    with caplog.at_level(logging.WARNING, logger="edgefn.build"):
        check.check_function("p", fn, bytes(3_000_000), host_functions=())
    notices = [r.getMessage() for r in caplog.records if r.name == "edgefn.build"]
    assert notices == (["still checking api: compiling its 3 MB module with wasmtime"] if said else [])
