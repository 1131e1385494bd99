"""A routed function that cannot run here answers 503 naming it and the reason, never a silent 404;
the error shows in `edgefn status` and in the logs (issue 16, "Failures that look like 404")."""

from __future__ import annotations

import json
from pathlib import Path

from tests.procs import answering_wat, dev_server, get, run_cli, wait_until, write_project

# A guest whose start function never returns: it passes every registration check (start
# functions run on runners only) and cannot be instantiated within its time limit.
STUCK = answering_wat("never").replace(
    "(module\n", "(module\n  (func $spin (loop $again (br $again)))\n  (start $spin)\n"
)


def stuck_project(directory: Path) -> Path:
    toml = 'project = "stuckdemo"\n'
    for name in ("hello", "stuck"):
        toml += (
            f'[[functions]]\nname = "{name}"\nwasm = "{name}.wat"\n'
            f'[[routes]]\npath = "/{name}"\nfunction = "{name}"\n[[deployments]]\nfunction = "{name}"\n'
        )
    return write_project(directory, toml, {"hello.wat": answering_wat("hello"), "stuck.wat": STUCK})


def assert_unavailable(response: object, function_id: str) -> dict[str, str]:
    """The 503 of a function that cannot run: JSON naming it and why."""
    assert getattr(response, "status_code", None) == 503, getattr(response, "text", response)
    body: dict[str, str] = response.json()  # type: ignore[attr-defined]
    assert body["error"] == "function_unavailable"
    assert f"function {function_id} cannot run on this node: cannot instantiate" in body["detail"]
    assert "start function" in body["detail"]
    return body


def test_dev_answers_503_for_a_function_that_cannot_start(tmp_path: Path) -> None:
    project = stuck_project(tmp_path / "p")
    with dev_server(project, tmp_path / "logs") as dev:
        assert get(f"{dev.ingress}/hello").text == "hello"
        body = assert_unavailable(get(f"{dev.ingress}/stuck"), "stuckdemo.stuck")
        assert get(f"{dev.ingress}/nothing-here").status_code == 404  # unrouted paths stay 404

        status = run_cli("status", "--json", cwd=project)
        assert status.returncode == 0, status.stderr
        (node,) = json.loads(status.stdout)["nodes"]
        states = {d["function_id"]: d for d in node["deployments"]}
        assert states["stuckdemo.stuck"]["state"] == "error"
        reason = states["stuckdemo.stuck"]["error"]
        assert reason and reason in body["detail"]
        # The runner says why, and the control plane logs the report.
        wait_until(lambda: f"deployment of stuckdemo.stuck v1 failed: {reason}" in dev.stderr)
        wait_until(lambda: "runner reported an error" in dev.stderr)
