"""Route ownership on the CP (PostgreSQL): one project's claims never overlap another's, route syntax
is checked with the runner's own rule, and nodes learn every project's host claims."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controlplane.harness import ControlPlane


def put(dev: Any, project: str, *routes: dict[str, Any]) -> Any:
    return dev.http.put(f"/v1/projects/{project}/routes", json={"routes": list(routes)})


def r(host: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"host": host, "path": path, "function": "f", **extra}


@pytest.mark.parametrize(
    ("held", "claimed", "code"),
    [
        (r("own1.example.com", "/hello"), r("*.own1.example.com", "/x"), 200),  # the apex is no subdomain
        (r("own2.example.com", "/hello"), r("own2.example.com", "/other"), 409),
        (r("a.own3.example.com", "/hello"), r("*.own3.example.com", "/hello", priority=1000), 409),
        (r("*.own4.example.com", "/w"), r("x.own4.example.com", "/w"), 409),
        (r("*.own5.example.com", "/w"), r("*.in.own5.example.com", "/w"), 409),  # nested wildcards
        (r("*.in.own6.example.com", "/w"), r("*.own6.example.com", "/w"), 409),
        (r("*", "/own7"), r("*", "/own7", priority=1000), 409),
        (r("*", "/own8"), r("*", "/*"), 409),  # a catch-all
        (r("*", "/own9/{id}"), r("*", "/own9/me"), 409),
        (r("*", "/own10/*"), r("*", "/own10"), 409),
        (r("*", "/own11"), r("*", "/own11/"), 200),
        (r("*", "/own12"), r("own12.example.com", "/own12"), 200),  # a host of its own is free
    ],
)
def test_claims_of_two_projects_never_overlap(
    cp: ControlPlane, held: dict[str, Any], claimed: dict[str, Any], code: int
) -> None:
    suffix = held["path"].strip("/").split("/")[0] + held["host"].replace("*", "w").replace(".", "-")[:20]
    owner, other = cp.developer(f"o-{suffix}"), cp.developer(f"c-{suffix}")
    owner.create(f"held-{suffix}", "f")
    other.create(f"claim-{suffix}", "f")
    assert put(owner, f"held-{suffix}", held).status_code == 200
    answer = put(other, f"claim-{suffix}", claimed)
    assert answer.status_code == code, answer.text
    if code == 409:
        body = answer.json()
        assert body["error"] in ("host_taken", "path_taken")
        assert f"held-{suffix}" not in body["detail"]
        assert other.http.get(f"/v1/projects/claim-{suffix}/routes").json() == {"routes": []}
    # The owner's own routes may overlap each other: precedence decides between them.
    assert put(owner, f"held-{suffix}", held, {**held, "priority": 5}).status_code == 200


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (r("*", "/{1id}"), "not starting with a digit"),
        (r("*", "/a//b"), "empty segment"),
        (r("*", "/a/*/b"), "only as its final segment"),
        (r("*.com", "/x"), "whole top-level domain"),
        (r("*", "/a%zz"), "cannot hold literally"),
    ],
)
def test_a_route_the_runner_could_not_compile_is_422(
    cp: ControlPlane, route: dict[str, Any], reason: str
) -> None:
    dev = cp.developer("syntax-owner")
    dev.create("syntax", "f")
    answer = put(dev, "syntax", route)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "bad_route"
    assert reason in answer.json()["detail"]


def test_nodes_learn_host_claims_of_functions_they_do_not_run(cp: ControlPlane) -> None:
    dev = cp.developer("claims-owner")
    dev.create("claims", "f")
    assert put(dev, "claims", r("claims.example.com", "/"), r("*.claims.example.org", "/")).status_code == 200
    desired = cp.node_client("node-claims", labels={"suite": "claims"}).heartbeat().desired
    claims = {(c.host, c.project) for c in desired.host_claims}
    assert {("claims.example.com", "claims"), ("*.claims.example.org", "claims")} <= claims
    assert not [f for f in desired.functions if f.project == "claims"]  # nothing of it deployed there
