"""Route table: precedence, host ownership, path forms and decoding, 405/404, a bounded cache, and a
1,000-route table against brute force."""

from __future__ import annotations

import random

import pytest

from edgehost.plugins.routing import CACHED_LOOKUPS, Match, Route, RouteTable
from edgehost.protocol import HostClaim


def r(
    path: str,
    fn: str,
    *,
    host: str = "*",
    methods: tuple[str, ...] = (),
    priority: int = 0,
    project: str = "",
) -> Route:
    return Route(
        host=host, path=path, methods=frozenset(methods), function_id=fn, priority=priority, project=project
    )


def fn_of(result: Match | tuple[str, ...] | None) -> str:
    assert isinstance(result, Match), result
    return result.route.function_id


def test_specificity_beats_priority_and_priority_breaks_ties() -> None:
    table = RouteTable([r("/users/me", "specific"), r("/*", "catchall", priority=10)])
    assert fn_of(table.lookup("x", "GET", "/users/me")) == "specific"
    assert fn_of(table.lookup("x", "GET", "/other")) == "catchall"
    table = RouteTable([r("/users/{id}", "low"), r("/users/{name}", "high", priority=1)])
    assert fn_of(table.lookup("x", "GET", "/users/7")) == "high"
    table = RouteTable([r("/x", "exact-host", host="a.test"), r("/x", "any-host", priority=1000)])
    assert fn_of(table.lookup("a.test", "GET", "/x")) == "exact-host"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users/me", "literal"),
        ("/users/42", "param"),
        ("/users/42/posts", "rest"),
        ("/users", "rest"),
        ("/other", "root"),
    ],
)
def test_path_specificity_at_equal_priority(path: str, expected: str) -> None:
    routes = [r("/*", "root"), r("/users/*", "rest"), r("/users/{id}", "param"), r("/users/me", "literal")]
    for order in (routes, routes[::-1]):
        assert fn_of(RouteTable(order).lookup("h", "GET", path)) == expected


def test_earlier_literal_segment_wins_and_exact_beats_catch_all() -> None:
    table = RouteTable([r("/{x}/b", "late"), r("/a/{y}", "early"), r("/a/b/*", "rest")])
    assert fn_of(table.lookup("h", "GET", "/a/b")) == "rest"  # literal, literal beats {x}/{y} at 0 or 1
    table = RouteTable([r("/{x}/b", "late"), r("/a/{y}", "early")])
    assert fn_of(table.lookup("h", "GET", "/a/b")) == "early"
    table = RouteTable([r("/a/*", "rest"), r("/a", "exact")])
    assert fn_of(table.lookup("h", "GET", "/a")) == "exact"
    assert fn_of(table.lookup("h", "GET", "/a/")) == "rest"


def test_host_forms_and_specificity() -> None:
    table = RouteTable(
        [
            r("/", "any"),
            r("/", "domain", host="*.example.com"),
            r("/", "deeper", host="*.api.example.com"),
            r("/", "exact", host="www.example.com"),
        ]
    )
    assert fn_of(table.lookup("WWW.Example.com:8080", "GET", "/")) == "exact"
    assert fn_of(table.lookup("www.example.com.", "GET", "/")) == "exact"
    assert fn_of(table.lookup("shop.example.com", "GET", "/")) == "domain"
    assert fn_of(table.lookup("a.b.example.com", "GET", "/")) == "domain"
    assert fn_of(table.lookup("v1.api.example.com", "GET", "/")) == "deeper"
    assert fn_of(table.lookup("example.com", "GET", "/")) == "any"  # the apex is not a subdomain
    assert fn_of(table.lookup("notexample.com", "GET", "/")) == "any"
    assert fn_of(table.lookup("[::1]:8080", "GET", "/")) == "any"


def test_exact_host_only() -> None:
    table = RouteTable([r("/x", "a", host="a.test")])
    assert table.lookup("b.test", "GET", "/x") is None
    assert fn_of(table.lookup("a.test", "GET", "/x")) == "a"


def test_params_are_captured_in_order() -> None:
    table = RouteTable([r("/users/{user}/posts/{post}", "f")])
    m = table.lookup("h", "GET", "/users/ann/posts/7")
    assert isinstance(m, Match)
    assert m.params == (("user", "ann"), ("post", "7"))
    assert table.lookup("h", "GET", "/users//posts/7") is None  # a param needs a non-empty segment
    assert table.lookup("h", "GET", "/users/ann/posts/7/x") is None


def test_catch_all_matches_prefix_itself_and_anything_below() -> None:
    table = RouteTable([r("/api/*", "api")])
    for path in ("/api", "/api/", "/api/x", "/api/x/y/z"):
        assert fn_of(table.lookup("h", "GET", path)) == "api", path
    assert table.lookup("h", "GET", "/apix") is None
    assert table.lookup("h", "GET", "/") is None
    everything = RouteTable([r("/*", "all")])
    assert fn_of(everything.lookup("h", "GET", "/")) == "all"


def test_trailing_slash_is_significant_for_exact_paths() -> None:
    table = RouteTable([r("/a", "a")])
    assert table.lookup("h", "GET", "/a/") is None


def test_methods_split_between_functions_and_405_lists_allowed() -> None:
    table = RouteTable(
        [
            r("/items", "reader", methods=("GET",), priority=5),
            r("/items", "writer", methods=("POST", "PUT")),
        ]
    )
    assert fn_of(table.lookup("h", "GET", "/items")) == "reader"
    assert fn_of(table.lookup("h", "HEAD", "/items")) == "reader"  # GET routes answer HEAD
    assert fn_of(table.lookup("h", "POST", "/items")) == "writer"
    assert table.lookup("h", "DELETE", "/items") == ("GET", "HEAD", "POST", "PUT")
    assert table.lookup("h", "DELETE", "/nope") is None


def test_405_only_from_routes_matching_host_and_path() -> None:
    table = RouteTable([r("/x", "a", host="a.test", methods=("GET",)), r("/x", "b", methods=("POST",))])
    assert table.lookup("b.test", "GET", "/x") == ("POST",)
    assert fn_of(table.lookup("a.test", "POST", "/x")) == "b"  # falls through to the `*` route


def test_route_without_methods_takes_any() -> None:
    table = RouteTable([r("/x", "a", methods=("GET",)), r("/x", "any")])
    assert fn_of(table.lookup("h", "PATCH", "/x")) == "any"


def test_tie_break_is_independent_of_input_order() -> None:
    routes = [r("/x", "b"), r("/x", "a"), r("/x", "c")]
    winners = {fn_of(RouteTable(order).lookup("h", "GET", "/x")) for order in (routes, routes[::-1])}
    assert winners == {"a"}


@pytest.mark.parametrize(
    "route",
    [
        r("x", "f"),
        r("/a/*/b", "f"),
        r("/a*", "f"),
        r("/{a}/{a}", "f"),
        r("/{1x}", "f"),
        r("/", "f", host="bad host"),
        r("/", "f", host="*.*.com"),
        r("/", "f", methods=("GET POST",)),
        r("/", "f", methods=("get",)),
        r("/", "f", host="*.com"),
        r("/a%zz", "f"),
        r("/a%FF", "f"),
        r("/a//b", "f"),
    ],
)
def test_invalid_routes_are_refused(route: Route) -> None:
    with pytest.raises(ValueError):
        RouteTable([route])


def _segment_kind(seg: str) -> int:
    return 2 if seg.startswith("{") else 3


def _brute_force(routes: list[Route], host: str, method: str, path: str) -> str | tuple[str, ...] | None:
    """Reference: every route checked, best chosen by the documented precedence."""
    parts = path[1:].split("/")
    host = host.lower()
    hits: list[tuple[tuple[object, ...], Route]] = []
    allowed: set[str] = set()
    for route in routes:
        if route.host == "*":
            hrank: tuple[int, int] = (0, 0)
        elif route.host.startswith("*."):
            if not (host.endswith(route.host[1:]) and host != route.host[2:]):
                continue
            hrank = (1, len(route.host) - 1)
        elif route.host != host:
            continue
        else:
            hrank = (2, len(route.host))
        segs = route.path[1:].split("/")
        rest = segs[-1] == "*"
        segs = segs[:-1] if rest else segs
        if len(parts) < len(segs) or (not rest and len(parts) != len(segs)):
            continue
        if any(s != p and not (s.startswith("{") and p) for s, p in zip(segs, parts, strict=False)):
            continue
        methods = set(route.methods) | ({"HEAD"} if "GET" in route.methods else set())
        if methods and method not in methods:
            allowed |= methods
            continue
        ranks = tuple(_segment_kind(s) for s in segs) + ((0,) if rest else (1,))
        key = (hrank, ranks, route.priority)
        hits.append((key, route))
    if hits:
        best = max(k for k, _ in hits)
        winners = sorted(rt.function_id for k, rt in hits if k == best)
        return winners[0] if len(winners) == 1 else tuple(winners)
    return tuple(sorted(allowed)) if allowed else None


def _random_table(rng: random.Random, n: int) -> list[Route]:
    words = [f"s{i}" for i in range(60)]
    hosts = ["*", "*.example.com", "a.example.com", "b.example.com", "other.test"]
    routes = []
    for i in range(n):
        depth = rng.randint(1, 4)
        segs = [rng.choice(words) if rng.random() < 0.75 else f"{{p{j}}}" for j in range(depth)]
        path = "/" + "/".join(segs) + ("/*" if rng.random() < 0.15 else "")
        methods = tuple(rng.sample(["GET", "POST", "PUT", "DELETE"], rng.randint(0, 2)))
        routes.append(
            r(path, f"fn{i:04d}", host=rng.choice(hosts), methods=methods, priority=rng.choice([0, 0, 5]))
        )
    return routes


def test_thousand_routes_agree_with_brute_force() -> None:
    rng = random.Random(7)
    routes = _random_table(rng, 1000)
    table = RouteTable(routes)
    hosts = ["a.example.com", "x.y.example.com", "other.test", "example.com", "unknown"]
    checked = 0
    for _ in range(2000):
        route = rng.choice(routes)
        path = route.path.replace("/*", "/" + "/".join(["z"] * rng.randint(0, 2))).rstrip("/") or "/"
        path = "/".join(p if not p.startswith("{") else rng.choice(["s1", "v"]) for p in path.split("/"))
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
        host = rng.choice(hosts)
        expected = _brute_force(routes, host, method, path)
        got = table.lookup(host, method, path)
        if isinstance(expected, str):
            assert fn_of(got) == expected, (host, method, path)
            checked += 1
        elif isinstance(expected, tuple) and isinstance(got, Match):
            assert got.route.function_id in expected  # a tie in precedence: any of the tied winners
            checked += 1
        else:
            assert got == expected, (host, method, path)
    assert checked > 500


def test_methods_are_case_sensitive() -> None:
    """RFC 9110 §9.1: `get` is another method than GET, which a route for GET does not take."""
    table = RouteTable([r("/x", "reader", methods=("GET",)), r("/any", "any")])
    assert table.lookup("h", "get", "/x") == ("GET", "HEAD")
    assert fn_of(table.lookup("h", "get", "/any")) == "any"  # a route without methods takes any token


@pytest.mark.parametrize(
    ("raw", "route", "params"),
    [
        ("/users/a%2Fb", "/users/{id}", (("id", "a/b"),)),  # %2F stays inside its segment
        ("/users/caf%C3%A9", "/users/{id}", (("id", "café"),)),
        ("/users/%FF", "/users/{id}", (("id", "%FF"),)),  # not UTF-8: as sent
        ("/users/\xff", "/users/{id}", (("id", "%FF"),)),  # a raw byte: percent-encoded
        ("/users/a%0Ab", "/users/{id}", (("id", "a%0Ab"),)),  # control characters stay encoded
        ("/users/%41", "/users/{id}", (("id", "A"),)),
        ("/caf%C3%A9", "/caf%C3%A9", ()),
        ("/caf\xc3\xa9", "/caf%c3%a9", ()),  # raw UTF-8 bytes match the escaped literal
        ("/a%2fb", "/a%2Fb", ()),
    ],
)
def test_segments_are_split_before_decoding(
    raw: str, route: str, params: tuple[tuple[str, str], ...]
) -> None:
    match = RouteTable([r(route, "f")]).lookup("h", "GET", raw)
    assert isinstance(match, Match), (raw, route)
    assert match.params == params


@pytest.mark.parametrize(
    ("raw", "route"), [("/a%2Fb", "/a/b"), ("/a%2Fb", "/a/{x}"), ("/a/%FF", "/a/%C3%BF")]
)
def test_an_encoded_slash_never_separates_segments(raw: str, route: str) -> None:
    assert RouteTable([r(route, "f")]).lookup("h", "GET", raw) is None


def test_a_claimed_host_is_answered_by_its_project_only() -> None:
    table = RouteTable(
        [
            r("/hello", "a-hello", host="shop.example.com", project="a"),
            r("/a-everywhere", "a-any", project="a"),
            r("/hello", "b-hello", project="b"),
            r("/other", "b-other", project="b"),
        ]
    )
    assert fn_of(table.lookup("shop.example.com", "GET", "/hello")) == "a-hello"
    assert fn_of(table.lookup("shop.example.com", "GET", "/a-everywhere")) == "a-any"
    assert table.lookup("shop.example.com", "GET", "/other") is None  # b's `*` route: not on a's host
    assert fn_of(table.lookup("elsewhere.test", "GET", "/hello")) == "b-hello"


def test_claims_of_functions_not_deployed_here_keep_their_hosts() -> None:
    routes = [r("/hello", "b-hello", project="b")]
    claims = [HostClaim(host="shop.example.com", project="a"), HostClaim(host="*.wild.test", project="a")]
    table = RouteTable(routes, claims)
    for host in ("shop.example.com", "x.wild.test", "a.b.wild.test"):
        assert table.lookup(host, "GET", "/hello") is None, host
    assert fn_of(table.lookup("wild.test", "GET", "/hello")) == "b-hello"  # the apex is not claimed
    assert fn_of(RouteTable(routes, [HostClaim(host="bad host", project="a")]).lookup("x", "GET", "/hello"))


def test_the_most_specific_claim_owns_a_host() -> None:
    """Overlapping claims exist only in data older than the CP's rule; the most specific one wins."""
    table = RouteTable(
        [
            r("/", "outer", host="*.example.com", project="a"),
            r("/", "inner", host="*.in.example.com", project="b"),
        ]
    )
    assert fn_of(table.lookup("x.in.example.com", "GET", "/")) == "inner"
    assert fn_of(table.lookup("x.example.com", "GET", "/")) == "outer"


def test_the_lookup_cache_is_bounded_in_entries_and_key_size() -> None:
    table = RouteTable([r("/{x}", "f")])
    for _ in range(50):
        assert fn_of(table.lookup("h" * 100_000, "GET", "/x"))
        assert fn_of(table.lookup("h", "GET", "/" + "p" * 100_000))
    assert not table._answers  # keys longer than routing needs are never remembered
    for i in range(CACHED_LOOKUPS * 2):
        table.lookup(f"host{i}", "GET", f"/p{i}")
    assert len(table._answers) <= CACHED_LOOKUPS
