"""Route ownership on the CP (PostgreSQL): one project's claims never overlap another's, route syntax
is checked with the runner's own rule, and nodes learn every project's host claims."""

from __future__ import annotations

import random
from typing import Any

import pytest

from edgehost.plugins.routing import Match, Route, RouteTable, edgehost_route_table
from edgehost.routes import parse_host, parse_path
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
        # Public suffixes (Public Suffix List, ICANN and private sections) and wildcards right under one.
        (r("co.uk", "/x"), "is a public suffix"),
        (r("*.co.uk", "/x"), 'every site under "co.uk", a public suffix'),
        (r("*.github.io", "/x"), 'every site under "github.io", a public suffix'),
        (r("x.ck", "/x"), "is a public suffix"),  # the list's `*.ck` rule
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


def test_property_whatever_the_cp_accepts_no_request_reaches_a_project_that_does_not_own_it(
    cp: ControlPlane,
) -> None:
    """Random host and path claims from two projects through the real API (PostgreSQL); the desired
    state a node then gets is routed with the runner's own router, and every answer must come from
    the request's owner: the project whose claim covers the host, else the one whose `*` route
    matches the path (the rule makes it unique)."""
    rng = random.Random(20261129)
    devs = {p: cp.developer(f"prop-{p}") for p in ("prop-a", "prop-b")}
    # A first claim each, so both take part whatever the draws; then random claims, first come first served.
    held = {"prop-a": [r("*", "/pr/p1")], "prop-b": [r("*", "/pr/p2"), r("b.prop.test", "/pr")]}
    for project, dev in devs.items():
        dev.publish(project, "f")
        assert dev.deploy(project, "f", "suite == 'ownprop'").status_code == 201
        assert put(dev, project, *held[project]).status_code == 200
    hosts = ["*", "*", "a.prop.test", "b.prop.test", "*.prop.test", "*.b.prop.test", "x.b.prop.test"]
    words = ["p1", "p2", "{v}", "{w}"]
    for _ in range(30):
        project = rng.choice(list(devs))
        path = "/pr/" + "/".join(rng.sample(words, rng.randint(0, 2)))
        path = path.rstrip("/") + ("/*" if rng.random() < 0.3 else "")
        candidate = r(rng.choice(hosts), path, priority=rng.choice([0, 1000]))
        answer = put(devs[project], project, *held[project], candidate)
        assert answer.status_code in (200, 409), answer.text
        if answer.status_code == 200:
            held[project].append(candidate)
    assert sum(len(claims) for claims in held.values()) > 5, held

    desired = cp.node_client("node-claims", labels={"suite": "ownprop"}).heartbeat().desired
    table = edgehost_route_table(routes=desired.routes, claims=desired.host_claims)
    claims = [(parse_host(c.host), c.project) for c in desired.host_claims]
    shared = [(parse_path(s.path), s.project) for s in desired.routes if s.host == "*"]
    answered: set[str] = set()
    for _ in range(400):
        host = rng.choice(
            ["a.prop.test", "b.prop.test", "q.prop.test", "x.b.prop.test", "y.b.prop.test", "n"]
        )
        path = "/pr/" + "/".join(rng.choice(["p1", "p2", "zz"]) for _ in range(rng.randint(0, 3)))
        found = table.lookup(host, "GET", path)
        if not isinstance(found, Match) or found.route.project not in devs:
            continue
        covering = [(h, p) for h, p in claims if h.matches(host)]
        if covering:
            owner = max(covering, key=lambda hp: (hp[0].kind, len(hp[0].suffix)))[1]
        else:
            owners = {
                p
                for pattern, p in shared
                if RouteTable([Route("*", pattern.text, frozenset(), "f")]).lookup(host, "GET", path)
            }
            assert len(owners) == 1, (host, path, owners)
            owner = owners.pop()
        assert found.route.project == owner, (host, path, found.route)
        answered.add(owner)
    assert answered == set(devs)  # both projects answered requests, each only its own


def test_a_domain_registered_under_a_public_suffix_is_claimable(cp: ControlPlane) -> None:
    dev = cp.developer("psl-owner")
    dev.create("psl", "f")
    answer = put(dev, "psl", r("shop.example.co.uk", "/"), r("*.example.co.uk", "/"), r("www.ck", "/"))
    assert answer.status_code == 200, answer.text  # `www.ck` is the list's exception to `*.ck`


def test_routes_past_the_limit_are_422_and_lose_nothing(cp: ControlPlane) -> None:
    """`api.max_routes_per_project` (1,000 by default) bounds what one change costs the CP's check."""
    dev = cp.developer("limit-owner")
    dev.create("limit", "f")
    at_limit = [r("*", f"/limit/{i}") for i in range(1000)]
    assert put(dev, "limit", *at_limit).status_code == 200
    answer = put(dev, "limit", *at_limit, r("*", "/limit/one-more"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "too_many_routes"
    assert "at most 1000 routes (api.max_routes_per_project), not 1001" in answer.json()["detail"]
    assert len(dev.http.get("/v1/projects/limit/routes").json()["routes"]) == 1000


def test_projects_at_the_limit_are_checked_against_each_other(cp: ControlPlane) -> None:
    """Two projects of 1,000 routes each (hosts, wildcards and shared-host paths): the indexed check
    still finds the one overlap among them, and accepts the set without it."""
    first, second = cp.developer("full-a"), cp.developer("full-b")
    first.create("full-a", "f")
    second.create("full-b", "f")
    held = [r(f"h{i}.full-a.test", "/") for i in range(400)]
    held += [r(f"*.w{i}.full-a.test", "/") for i in range(300)]
    held += [r("*", f"/full-a/{i}/{{id}}") for i in range(300)]
    assert put(first, "full-a", *held).status_code == 200
    mine = [r(f"h{i}.full-b.test", "/") for i in range(400)]
    mine += [r(f"*.w{i}.full-b.test", "/") for i in range(300)]
    mine += [r("*", f"/full-b/{i}/*") for i in range(299)]
    assert put(second, "full-b", *mine, r("*", "/full-b/last")).status_code == 200
    answer = put(second, "full-b", *mine, r("*", "/full-a/299/me"))
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "path_taken"
    answer = put(second, "full-b", *mine[1:], r("x.w7.full-a.test", "/"))
    assert answer.json()["error"] == "host_taken", answer.text
