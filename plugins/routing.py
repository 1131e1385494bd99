"""The compiled route table: host, path and method to a function, in precedence order.

Matching rules (the `edgefn.toml` `[[routes]]` forms):

- Host: an exact name (case-insensitive; the request's port and a trailing dot are ignored),
  `*.example.com` (any depth of subdomain, never the apex `example.com`), or `*` (any host).
- Path: `/`-separated segments compared exactly (case-sensitive, a trailing slash counts);
  `{name}` captures one non-empty segment; a final `/*` matches the rest of the path, including
  nothing at all, so `/api/*` matches `/api`, `/api/` and `/api/x/y`.
- Methods: an empty set means any method. A route that allows GET also answers HEAD (RFC 9110
  §9.3.2), so the `Allow` list then names HEAD too.

Precedence, first difference wins: higher `priority`; then the more specific host (exact >
`*.domain`, longer domain first > `*`); then the more specific path, compared segment by segment
(literal > `{param}` > end of an exact route > `/*`); then a fixed tie-break on the route's fields,
so the outcome never depends on the order routes arrived in. Routes that match host and path but
not the method are skipped, so routes sharing a path may split its methods between functions.

The table is compiled once per route change and indexed by first path segment: a lookup scans only
the routes whose first segment is that literal plus those starting with `{param}` or `/*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgehost.hookspecs import hookimpl
from edgehost.protocol import RouteSpec

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_METHOD = re.compile(r"[A-Z]+")
CACHED_LOOKUPS = 4096
_UNKNOWN = object()

# Segment ranks: larger is more specific. _END closes an exact route so that `/a` outranks `/a/*`.
_LITERAL, _PARAM_RANK, _END, _REST = 3, 2, 1, 0
_HOST_EXACT, _HOST_DOMAIN, _HOST_ANY = 2, 1, 0


@dataclass(frozen=True, slots=True)
class Route:
    """One route as configured; `methods` empty means any method."""

    host: str
    path: str
    methods: frozenset[str]
    function_id: str
    priority: int = 0
    project: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """The winning route and its `{name}` captures, in path order."""

    route: Route
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Compiled:
    route: Route
    host_kind: int
    host: str  # exact name, or the ".example.com" suffix of a wildcard-domain host
    literal: str  # the path of a route without {param} or /*, compared as a plain string
    pattern: re.Pattern[str] | None  # otherwise the whole path, one group per {param}
    names: tuple[str, ...]
    methods: frozenset[str]

    def match_path(self, path: str) -> tuple[tuple[str, str], ...] | None:
        if self.pattern is None:
            return () if path == self.literal else None
        m = self.pattern.fullmatch(path)
        if m is None:
            return None
        return tuple(zip(self.names, m.groups(), strict=True)) if self.names else ()

    def match_host(self, host: str) -> bool:
        if self.host_kind == _HOST_EXACT:
            return host == self.host
        if self.host_kind == _HOST_DOMAIN:
            return host.endswith(self.host) and len(host) > len(self.host)
        return True

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods


def normalize_host(host: str) -> str:
    """Lower-case, without port or trailing dot: the form host patterns are compared against."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal, "[::1]:8080"
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _compile(route: Route) -> tuple[tuple[object, ...], str | None, _Compiled]:
    """Validate and compile one route: (sort key, literal first segment or None, matcher)."""
    host = route.host.strip().lower().rstrip(".")
    if host == "*":
        host_kind, host_key = _HOST_ANY, ""
    elif host.startswith("*."):
        host_kind, host_key = _HOST_DOMAIN, host[1:]
        if not _HOST.fullmatch(host[2:]):
            raise ValueError(f"route host {route.host!r} is not a valid wildcard domain")
    else:
        host_kind, host_key = _HOST_EXACT, host
        if not _HOST.fullmatch(host):
            raise ValueError(f"route host {route.host!r} is not '*', '*.domain' or a host name")

    if not route.path.startswith("/"):
        raise ValueError(f"route path {route.path!r} must start with '/'")
    parts = route.path[1:].split("/")
    rest = parts[-1] == "*"
    if rest:
        parts = [] if route.path == "/*" else parts[:-1]
    segments: list[str | None] = []  # None marks a {param}
    names: list[str] = []
    for part in parts:
        param = _PARAM.fullmatch(part)
        if param:
            if param.group(1) in names:
                raise ValueError(f"route path {route.path!r} repeats parameter {param.group(1)!r}")
            names.append(param.group(1))
            segments.append(None)
        elif any(c in part for c in "{}*"):
            raise ValueError(
                f"route path {route.path!r}: '{part}' must be literal, '{{name}}' or a final '*'"
            )
        else:
            segments.append(part)

    methods = frozenset(m.upper() for m in route.methods)
    if bad := sorted(m for m in methods if not _METHOD.fullmatch(m)):
        raise ValueError(f"route methods {bad} are not HTTP method names")
    if "GET" in methods:
        methods |= {"HEAD"}

    pattern = None
    if rest or names:
        regex = "".join("/([^/]+)" if seg is None else "/" + re.escape(seg) for seg in segments)
        pattern = re.compile(regex + "(?:/.*)?" if rest else regex, re.DOTALL)
    ranks = tuple(_PARAM_RANK if s is None else _LITERAL for s in segments) + ((_REST,) if rest else (_END,))
    # Sorted ascending, so negate "bigger is better" parts; the tail is the deterministic tie-break.
    key = (
        -route.priority,
        -host_kind,
        -len(host_key),
        tuple(-r for r in ranks),
        host_key,
        route.path,
        tuple(sorted(methods)),
        route.function_id,
        route.project,
    )
    first = segments[0] if segments else None
    return key, first, _Compiled(route, host_kind, host_key, route.path, pattern, tuple(names), methods)


class RouteTable:
    """Routes compiled for lookup; build a new table when the routes change."""

    def __init__(self, routes: Iterable[Route]) -> None:
        compiled = sorted((_compile(r) for r in routes), key=lambda kfc: kfc[0])
        self._by_first: dict[str, list[tuple[int, _Compiled]]] = {}
        self._wild: list[tuple[int, _Compiled]] = []  # first segment is {param} or the route is "/*"
        self._answers: dict[tuple[str, str, str], object] = {}
        for rank, (_, first, c) in enumerate(compiled):
            if first is None:
                self._wild.append((rank, c))
            else:
                self._by_first.setdefault(first, []).append((rank, c))

    def lookup(self, host: str, method: str, path: str) -> Match | tuple[str, ...] | None:
        """The best Match; else the sorted methods allowed on this host and path (405); else None (404).

        `path` is the decoded request path without the query string. A table never changes, so
        answers are remembered, up to CACHED_LOOKUPS of them (then the memory starts over: paths
        with `{param}` segments or scans of random paths must not grow it without bound).
        """
        key = (host, method, path)
        found = self._answers.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            if len(self._answers) >= CACHED_LOOKUPS:
                self._answers.clear()
            found = self._answers[key] = self._lookup(normalize_host(host), method, path)
        return found  # type: ignore[return-value]

    def _lookup(self, host: str, method: str, path: str) -> Match | tuple[str, ...] | None:
        method = method.upper()
        first = path[1:].partition("/")[0] if path.startswith("/") else None
        allowed: set[str] = set()
        best: tuple[int, Match] | None = None
        literal = self._by_first.get(first, ()) if first is not None else ()
        for bucket in (literal, self._wild):
            for rank, c in bucket:
                if best is not None and rank > best[0]:
                    break
                if not c.match_host(host):
                    continue
                params = c.match_path(path)
                if params is None:
                    continue
                if c.allows(method):
                    best = (rank, Match(c.route, params))
                    break
                allowed |= c.methods  # never empty here: a route without methods allows any
        if best is not None:
            return best[1]
        return tuple(sorted(allowed)) if allowed else None


@hookimpl
def edgehost_route_table(routes: Sequence[RouteSpec]) -> RouteTable:
    return RouteTable(
        Route(
            host=r.host,
            path=r.path,
            methods=frozenset(m.upper() for m in r.methods),
            function_id=r.function_id,
            priority=r.priority,
            project=r.project,
        )
        for r in routes
    )
