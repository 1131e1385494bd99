"""The route syntax and the ownership rule (edgehost/routes.py), and a property test that the rule and
the runner's router together never let a project answer a request it does not own."""

from __future__ import annotations

import random
import re

import pytest

from edgehost.plugins.routing import Match, Route, RouteTable, request_segments
from edgehost.route_overlaps import first_overlap
from edgehost.routes import (
    HostKind,
    RoutePattern,
    RouteSyntaxError,
    normalize_host,
    parse_host,
    parse_path,
    parse_route,
)


@pytest.mark.parametrize(
    ("text", "kind", "suffix"),
    [
        ("*", HostKind.ANY, ""),
        ("*.Example.com", HostKind.DOMAIN, ".example.com"),
        ("shop.example.com", HostKind.EXACT, "shop.example.com"),
    ],
)
def test_host_forms(text: str, kind: HostKind, suffix: str) -> None:
    host = parse_host(text)
    assert (host.kind, host.suffix) == (kind, suffix)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("bad host", 'must be "*", a host name'),
        ("*.com", "top-level domain"),
        ("*.*.example.com", "not a valid wildcard"),
        ("-a.example.com", 'must be "*"'),
        ("a" * 64 + ".com", 'must be "*"'),
        ("x." * 130 + "com", 'must be "*"'),
        ("127.0.0.1", "is an address or a one-label name"),
        ("localhost", "is an address or a one-label name"),
        ("2130706433", "is an address or a one-label name"),
        ("0x7f000001", "is an address or a one-label name"),
        ("*.0.1", "is an address or a one-label name"),
    ],
)
def test_bad_hosts_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(RouteSyntaxError, match=re.escape(reason)):
        parse_host(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x", 'must start with "/"'),
        ("/a//b", "empty segment"),
        ("/a/*/b", "only as its final segment"),
        ("/{1id}", "not starting with a digit"),
        ("/{Id}", "a-z, 0-9 and '_'"),
        ("/{a}/{a}", "repeats the parameter"),
        ("/a b", "cannot hold literally"),
        ("/a%zz", "cannot hold literally"),
        ("/a%FF", "does not decode as UTF-8"),
        ("/" + "a" * 1024, "longer than 1024"),
    ],
)
def test_bad_paths_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(RouteSyntaxError, match=re.escape(reason)):
        parse_path(text)


def test_path_forms() -> None:
    assert parse_path("/").segments == ("",)
    assert parse_path("/*").segments == () and parse_path("/*").rest
    assert parse_path("/a/").segments == ("a", "")
    path = parse_path("/users/{id}/caf%C3%A9/*")
    assert path.segments == ("users", None, "café") and path.names == ("id",) and path.rest


def test_methods_are_upper_case_names() -> None:
    assert parse_route("*", "/", ["GET", "POST"]).methods == {"GET", "POST"}
    for bad in (["get"], ["TRACE"], ["GET POST"]):
        with pytest.raises(RouteSyntaxError, match="not among"):
            parse_route("*", "/", bad)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("shop.example.com", "shop.example.com", True),
        ("shop.example.com", "*.example.com", True),  # an exact host inside a wildcard
        ("*.example.com", "x.y.example.com", True),
        ("*.wild.example.com", "*.example.com", True),  # nested wildcards
        ("*.example.com", "*.example.com", True),
        ("example.com", "*.example.com", False),  # the apex is no subdomain
        ("shop.example.com", "shop.example.org", False),
        ("*.a.example.com", "*.b.example.com", False),
        ("*", "shop.example.com", False),  # `*` claims nothing
    ],
)
def test_host_claims_overlap(a: str, b: str, overlap: bool) -> None:
    assert parse_host(a).overlaps(parse_host(b)) is overlap
    assert parse_host(b).overlaps(parse_host(a)) is overlap


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("/hello", "/hello", True),
        ("/hello", "/*", True),  # a catch-all matches every path
        ("/api/*", "/api", True),
        ("/api/*", "/api/x/y", True),
        ("/users/{id}", "/users/me", True),
        ("/{a}/x", "/y/{b}", True),
        ("/hello", "/hello/", False),
        ("/users/{id}", "/users/", False),  # a param needs a non-empty segment
        ("/a/*", "/b/*", False),
        ("/a", "/a/b", False),
        ("/caf%C3%A9", "/caf%C3%A9-no", False),
    ],
)
def test_paths_overlap(a: str, b: str, overlap: bool) -> None:
    pa, pb = parse_path(a), parse_path(b)
    assert pa.overlaps(pb) is overlap
    assert pb.overlaps(pa) is overlap


def test_on_the_shared_host_paths_conflict_and_elsewhere_hosts_do() -> None:
    assert parse_route("*", "/hello").overlaps(parse_route("*", "/*"))
    assert not parse_route("*", "/hello").overlaps(parse_route("a.test", "/hello"))
    assert parse_route("a.test", "/x").overlaps(parse_route("a.test", "/y"))  # the host is the claim
    assert first_overlap([parse_route("*", "/a")], [parse_route("*", "/b"), parse_route("*", "/a/*")])


def test_request_segments_fast_path_keeps_the_path() -> None:
    texts, values = request_segments("/a/b/")
    assert texts == values == ("a", "b", "")


def test_normalize_host() -> None:
    assert normalize_host("WWW.Example.com:8080") == "www.example.com"
    assert normalize_host("www.example.com.") == "www.example.com"
    assert normalize_host("[::1]:8080") == "[::1]"


# --- The property: whatever the CP's rule accepts, no request reaches a project that does not own it.

_HOSTS = ["*", "*", "*", "a.example.com", "b.example.com", "*.example.com", "*.b.example.com", "x.test"]
_WORDS = ["a", "b", "hello", "users"]


def _random_route(rng: random.Random) -> tuple[str, str]:
    depth = rng.randint(0, 3)
    segments = [rng.choice(_WORDS) if rng.random() < 0.7 else f"{{p{i}}}" for i in range(depth)]
    path = "/" + "/".join(segments)
    if rng.random() < 0.25:
        path = path.rstrip("/") + "/*"
    return rng.choice(_HOSTS), path


def _owner(accepted: dict[str, list[RoutePattern]], host: str, path: str) -> str | None:
    """Ownership by definition: the project whose claim covers the host (most specific), else on an
    unclaimed host the one whose `*` route matches the path (the rule makes it unique)."""
    claims = [
        (pattern.host, project)
        for project, patterns in accepted.items()
        for pattern in patterns
        if pattern.host.kind is not HostKind.ANY and pattern.host.matches(host)
    ]
    if claims:
        return max(claims, key=lambda c: (c[0].kind, len(c[0].suffix)))[1]
    owners = {
        project
        for project, patterns in accepted.items()
        for pattern in patterns
        if pattern.host.kind is HostKind.ANY
        and RouteTable([Route("*", pattern.path.text, frozenset(), "f")]).lookup(host, "GET", path)
    }
    assert len(owners) <= 1, owners
    return owners.pop() if owners else None


@pytest.mark.parametrize("seed", range(40))
def test_no_request_is_answered_by_a_project_that_does_not_own_it(seed: int) -> None:
    rng = random.Random(seed)
    accepted: dict[str, list[RoutePattern]] = {"a": [], "b": []}
    routes: list[Route] = []
    for i in range(12):
        project = rng.choice(["a", "b"])
        other = "b" if project == "a" else "a"
        host, path = _random_route(rng)
        pattern = parse_route(host, path)
        if first_overlap([pattern], accepted[other]) is not None:
            continue  # the CP answers 409
        accepted[project].append(pattern)
        routes.append(Route(host, path, frozenset(), f"{project}{i}", rng.choice([0, 1000]), project))
    table = RouteTable(routes)
    for _ in range(200):
        host = rng.choice(
            ["a.example.com", "b.example.com", "q.b.example.com", "z.example.com", "x.test", "y"]
        )
        path = "/" + "/".join(rng.choice([*_WORDS, "zz"]) for _ in range(rng.randint(0, 3)))
        found = table.lookup(host, "GET", path)
        if isinstance(found, Match):
            assert found.route.project == _owner(accepted, host, path), (host, path, found.route)
