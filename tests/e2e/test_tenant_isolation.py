"""Tenant isolation on a real `edgefn dev`: another project can neither capture a project's hosts or
paths nor stop the runner from applying everyone else's changes (issue: route ownership)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.procs import REPO, DevServer, answering_wat, dev_server, run_cli, wait_until, write_project

OWNER = """
project = "shop"

[[functions]]
name = "front"
wasm = "front.wat"

[[routes]]
host = "shop.example.com"
path = "/hello"
function = "front"

[[routes]]
host = "*.wild.example.com"
path = "/w"
function = "front"

[[routes]]
path = "/hello"
function = "front"

[[deployments]]
function = "front"
"""

INTRUDER = """
project = "intruder"

[[functions]]
name = "grab"
wasm = "grab.wat"

{routes}

[[deployments]]
function = "grab"
"""


GRAB = {"grab.wat": answering_wat("grab")}
OTHER = {"grab.wat": answering_wat("other")}


def route(host: str, path: str, priority: int = 0) -> str:
    return f'[[routes]]\nhost = "{host}"\npath = "{path}"\nfunction = "grab"\npriority = {priority}\n'


def answer(dev: DevServer, host: str, path: str) -> httpx.Response:
    return httpx.get(f"{dev.ingress}{path}", headers={"host": host}, timeout=10)


def deploy(project: Path, dev: DevServer, token: str) -> tuple[int, str]:
    result = run_cli("deploy", "--project", str(project), "--api", dev.api, "--token", token)
    return result.returncode, result.stdout + result.stderr


def mint(dev: DevServer, subject: str) -> str:
    minted = run_cli("token", "--subject", subject, "--state-dir", str(dev.state_dir))
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip()


def test_another_project_cannot_capture_hosts_or_paths(tmp_path: Path) -> None:
    shop = write_project(tmp_path / "shop", OWNER, {"front.wat": answering_wat("shop")})
    with dev_server(shop, tmp_path / "logs") as dev:
        wait_until(lambda: answer(dev, "shop.example.com", "/hello").text == "shop", what="the shop")
        token = mint(dev, "mallory")
        intruder = tmp_path / "intruder"
        attempts = [
            (route("*.example.com", "/hello", 1000), '"*.example.com" overlaps "shop.example.com"'),
            (route("shop.example.com", "/other"), '"shop.example.com" overlaps "shop.example.com"'),
            (route("x.wild.example.com", "/w", 1000), '"x.wild.example.com" overlaps "*.wild.example.com"'),
            (route("*.example.com", "/w"), '"*.example.com" overlaps'),  # covers the shop's wildcard
            (route("*", "/hello", 1000), 'path "/hello" on host "*" overlaps "/hello"'),
            (route("*", "/*"), 'path "/*" on host "*" overlaps "/hello"'),
            (route("*", "/{page}"), 'path "/{page}" on host "*" overlaps "/hello"'),
        ]
        for routes, reason in attempts:
            write_project(intruder, INTRUDER.format(routes=routes), GRAB)
            status, output = deploy(intruder, dev, token)
            assert status == 1, output
            assert reason in output, output
            assert "shop" not in output.replace("shop.example.com", ""), output  # the owner is not named
        for host, path in [
            ("shop.example.com", "/hello"),
            ("a.wild.example.com", "/w"),
            ("elsewhere", "/hello"),
        ]:
            assert answer(dev, host, path).text == "shop", (host, path)

        # What is free can be taken, and never answers on the shop's hosts.
        write_project(intruder, INTRUDER.format(routes=route("*", "/grab")), GRAB)
        status, output = deploy(intruder, dev, token)
        assert status == 0, output
        wait_until(lambda: answer(dev, "elsewhere", "/grab").text == "grab", what="the free path")
        assert answer(dev, "shop.example.com", "/grab").status_code == 404
        assert answer(dev, "x.wild.example.com", "/grab").status_code == 404


def test_a_project_with_a_route_the_router_refuses_fails_alone(tmp_path: Path) -> None:
    """A route the CP stored but the runner's router refuses (here a plugin router refuses paths with
    `legacy`): the other project's new version is served, the broken one keeps its previous routes,
    reports the reason, `edgefn status` shows it, and the node keeps syncing."""
    shop = write_project(tmp_path / "shop", OWNER, {"front.wat": answering_wat("shop-v1")})
    env = {"EDGEFN_PLUGINS": json.dumps(["tests.e2e.strict_router_plugin"]), "PYTHONPATH": str(REPO)}
    with dev_server(shop, tmp_path / "logs", env) as dev:
        token = mint(dev, "bob")
        other = tmp_path / "other"
        write_project(other, INTRUDER.format(routes=route("*", "/mine")), OTHER)
        assert deploy(other, dev, token)[0] == 0
        wait_until(lambda: answer(dev, "x", "/mine").text == "other", what="the other project")

        write_project(
            other,
            INTRUDER.format(routes=route("*", "/mine") + route("*", "/legacy")),
            OTHER,
        )
        status, output = deploy(other, dev, token)
        assert status == 0, output  # the CP accepts it; only this node's router refuses it
        (shop / "front.wat").write_text(answering_wat("shop-v2"))  # `edgefn dev` deploys it
        wait_until(lambda: answer(dev, "x", "/hello").text == "shop-v2", timeout=30, what="the shop's v2")
        assert answer(dev, "x", "/mine").text == "other"  # its previous routes still serve
        assert answer(dev, "x", "/legacy").status_code == 404

        def shown() -> str:
            result = run_cli("status", "--api", dev.api, "--token", token, env={"COLUMNS": "400"})
            return result.stdout if "this router does not support" in result.stdout else ""

        output = wait_until(shown, what="the route error in `edgefn status`")
        assert "intruder" in output and "error" in output
        # The other tenant sees its own functions' states on the node, never this project's error.
        shop_view = run_cli("status", "--json", "--api", dev.api, "--token", dev.token)
        assert "shop.front" in shop_view.stdout
        assert "intruder." not in shop_view.stdout and "does not support" not in shop_view.stdout

        write_project(other, INTRUDER.format(routes=route("*", "/fixed")), OTHER)
        assert deploy(other, dev, token)[0] == 0
        wait_until(lambda: answer(dev, "x", "/fixed").text == "other", what="the fixed routes")
        assert answer(dev, "x", "/mine").status_code == 404
        wait_until(lambda: not shown(), what="the error to clear")


def pool_metrics(dev: DevServer) -> dict[tuple[str, str], float]:
    """(metric, function_id) -> value of the pool's metrics on the dev runner."""
    text = httpx.get(f"{dev.metrics}/metrics", timeout=10).text
    return {
        (sample.name, sample.labels.get("function_id", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("edgefn_pool_")
    }


HOG = """
project = "hog"

[[functions]]
name = "grab"
wasm = "grab.wat"
memory_pages = 64
min_hot_instances = 40
max_hot_instances = 40

[[routes]]
path = "/hog"
function = "grab"

[[deployments]]
function = "grab"
"""


def test_one_project_cannot_take_another_projects_hot_memory(tmp_path: Path) -> None:
    """A runner's hot memory budget of 4 MiB (one project at most 3): a project asking for 40 hot
    instances of 1 MiB each gets its share (2 MiB with two projects), the other keeps its own."""
    shop = write_project(tmp_path / "shop", OWNER, {"front.wat": answering_wat("shop")})
    env = {"EDGEFN_POOL__MAX_MEMORY_BYTES": str(4 << 20), "EDGEFN_POOL__PROJECT_MEMORY_BYTES": str(3 << 20)}
    with dev_server(shop, tmp_path / "logs", env) as dev:
        wait_until(lambda: answer(dev, "x", "/hello").text == "shop", what="the shop")
        big = answering_wat("hog").replace('(memory (export "memory") 1)', '(memory (export "memory") 16)')
        hog = write_project(tmp_path / "hog", HOG, {"grab.wat": big})
        status, output = deploy(hog, dev, mint(dev, "hogger"))
        assert status == 0, output
        wait_until(lambda: answer(dev, "x", "/hog").text == "hog", what="the hog")
        for _ in range(5):
            assert answer(dev, "x", "/hog").text == "hog"  # served, hot or not
        metrics = wait_until(
            lambda: (m := pool_metrics(dev)).get(("edgefn_pool_instances", "hog.grab")) == 2 and m,
            what="the hog's pool at its share",
        )
        assert metrics[("edgefn_pool_hot_memory_refusals_total", "hog.grab")] >= 1
        assert metrics[("edgefn_pool_instances", "shop.front")] == 1  # min_hot_instances = 1, kept
        assert metrics[("edgefn_pool_hot_memory_refusals_total", "shop.front")] == 0
        assert answer(dev, "x", "/hello").text == "shop"
