"""Gradual rollouts against a real `edgefn dev`: `edgefn rollout`, the split and its version key,
`edgefn status`, the invocation log and metrics, `edgefn rollback`, and refused input.

The guests answer their own version ("v1", "v2"), so a response says which version served it.
Bounds are statistical but cannot flake: 200 requests at 50/50 all reaching one version happens
with probability 2^-199; version keys are fixed strings, so where each lands is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.observability.metrics_text import sample
from tests.procs import DevServer, answering_wat, dev_server, run_cli, wait_until, write_project

PROJECT = """
project = "site"

[[functions]]
name = "hello"
wasm = "hello.wat"

[[functions]]
name = "idle"
wasm = "idle.wat"

[[routes]]
path = "/hello"
function = "hello"

[[deployments]]
function = "hello"
"""
KEY = "x-edgefn-version-key"


def cli(project: Path, *args: str) -> tuple[int, str, str]:
    """An `edgefn` command in the project folder: it finds the dev server's API and token itself."""
    result = run_cli(*args, cwd=project, env={"EDGEFN_TOKEN": "", "EDGEFN_API": ""})
    return result.returncode, result.stdout, result.stderr


def hello(dev: DevServer, key: str | None = None) -> httpx.Response:
    response = httpx.get(dev.ingress + "/hello", headers={KEY: key} if key else {}, timeout=10)
    assert response.status_code == 200, response.text
    return response


def deployment(dev: DevServer) -> dict[str, object]:
    doc = httpx.get(
        f"{dev.api}/v1/projects/site/deployments", headers={"authorization": f"Bearer {dev.token}"}
    ).json()
    return next(d for d in doc["deployments"] if d["function"] == "hello")


def test_a_rollout_splits_requests_keeps_keys_on_a_version_and_rollback_ends_it(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "site", PROJECT, {"hello.wat": answering_wat("v1"), "idle.wat": answering_wat("idle")}
    )
    with dev_server(project, tmp_path / "logs") as dev:
        assert hello(dev).text == "v1"
        (project / "hello.wat").write_text(answering_wat("v2"))  # `edgefn dev` deploys v2 on its own
        wait_until(lambda: hello(dev).text == "v2", timeout=60, what="v2 deployed")

        code, out, err = cli(project, "rollout", "hello", "1=50", "2=50")
        assert code == 0, err
        assert out.strip() == "rolling out hello: v1 50%, v2 50% where true"
        wait_until(lambda: hello(dev).text == "v1", what="the rollout applied")

        served = [hello(dev).text for _ in range(200)]
        assert set(served) == {"v1", "v2"}

        # A version key keeps its version, and different keys spread over both.
        for key in ("alice", "bob", "carol"):
            assert len({hello(dev, key).text for _ in range(20)}) == 1, key
        by_key = {key: hello(dev, key).text for key in (f"user-{n}" for n in range(20))}
        assert set(by_key.values()) == {"v1", "v2"}

        # The log line and the metrics name the version that served.
        ids = {hello(dev, key).headers["x-request-id"]: text for key, text in by_key.items()}
        lines = wait_until(
            lambda: (
                (r := {rec["request_id"]: rec for rec in dev.json_lines() if "request_id" in rec}).keys()
                >= ids.keys()
                and r
            ),
            what="the invocation log lines",
        )
        assert {lines[i]["version"] for i in ids} == {1, 2}
        assert all(f"v{lines[i]['version']}" == text for i, text in ids.items())
        metrics = httpx.get(dev.metrics + "/metrics", timeout=10).text
        for version in ("1", "2"):
            count = sample(metrics, "wasm_invoke_count_total", function_id="site.hello", version=version)
            assert count is not None and count > 0, version
            # Both versions are hot-pooled: each has its own pool, warmed and serving.
            created = sample(
                metrics, "edgefn_pool_instances_created_total", function_id="site.hello", version=version
            )
            assert created is not None and created >= 1, version

        # `edgefn status` shows the split; the API lists it.
        assert deployment(dev)["shares"] == [{"version": 1, "percent": 50}, {"version": 2, "percent": 50}]
        code, out, _ = cli(project, "status")
        assert code == 0 and out.count("(50%)") == 2, out
        code, out, _ = cli(project, "status", "--json")
        assert json.loads(out)["projects"][0]["deployments"][0]["shares"][1] == {"version": 2, "percent": 50}

        # `edgefn deploy` of the same file leaves a rollout that serves its version alone.
        code, out, err = cli(project, "deploy")
        assert code == 0 and "site: nothing changed" in out, out + err
        assert len(deployment(dev)["shares"]) == 2  # type: ignore[arg-type]

        # rollback ends the rollout with every request on v1, keyed or not.
        code, out, err = cli(project, "rollback", "hello", "--to", "1")
        assert code == 0, err
        assert out.strip() == "rolled back hello: v1 -> v1 where true"
        wait_until(lambda: all(hello(dev).text == "v1" for _ in range(20)), what="the rollback applied")
        assert {hello(dev, key).text for key in by_key} == {"v1"}
        assert deployment(dev)["shares"] == []
        code, out, _ = cli(project, "status")
        assert "%)" not in out


def test_refused_rollouts_name_the_field_and_change_nothing(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "site", PROJECT, {"hello.wat": answering_wat("v1"), "idle.wat": answering_wat("idle")}
    )
    with dev_server(project, tmp_path / "logs") as dev:
        (project / "hello.wat").write_text(answering_wat("v2"))
        wait_until(lambda: hello(dev).text == "v2", timeout=60, what="v2 deployed")
        assert cli(project, "rollout", "hello", "1=90", "2=10")[0] == 0
        before = deployment(dev)
        # A registered version that was never uploaded: pending, not ready.
        pending = httpx.post(
            f"{dev.api}/v1/projects/site/functions",
            json={"name": "hello", "entrypoint": "handle", "memory_pages": 16, "max_execution_ms": 50},
            headers={"authorization": f"Bearer {dev.token}"},
        ).json()["version"]
        refused = {
            ("hello", "1=50", "2=40"): "(422 invalid_shares): shares: the percents sum to 90, not 100",
            ("hello", "1=50", "1=50"): "(422 invalid_shares): shares[1].version: v1 is listed twice",
            ("hello", "1=100", "2=0"): "(422 invalid_shares): shares[1].percent: v2's share is 0, not 1..100",
            ("hello", "1=101"): "(422 invalid_shares): shares[0].percent: v1's share is 101, not 1..100",
            (
                "hello",
                "1=50",
                f"{pending}=50",
            ): f"(422 not_ready): shares[1].version: hello v{pending} is pending",
            (
                "hello",
                "1=50",
                "9=50",
            ): "(422 not_ready): shares[1].version: function 'hello' has no version 9",
            ("idle", "1=100"): "(422 not_deployed): function: 'idle' is not deployed",
        }
        for args, message in refused.items():
            code, out, err = cli(project, "rollout", *args)
            assert code == 1, (args, out, err)
            assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
        for malformed in (("hello", "1:50"), ("hello", "x=50"), ("hello",)):
            code, _, err = cli(project, "rollout", *malformed)
            assert code == 2 and "Traceback" not in err, (malformed, err)
        assert deployment(dev) == before  # nothing changed
        assert {hello(dev, f"k{n}").text for n in range(60)} == {"v1", "v2"}
