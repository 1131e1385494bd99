"""The compiled route table: host, path and method to a function, in precedence order.

Route syntax is `edgehost/routes.py`'s (the one rule the project file and the CP check too).
Matching a request:

- Host ownership first. A host covered by a project's explicit claim (an exact host, else the
  longest `*.domain` suffix; the claims include routes of functions not deployed on this node) is
  answered by that project's routes only, its `*` routes included; any other host by the `*`
  routes. So no project ever answers a request for another project's host, with its cookies.
- Path: the raw path is split at `/` first and each segment percent-decoded after, so `%2F`
  belongs to its segment (`/users/a%2Fb` matches `/users/{id}` with id `a/b`). A `{param}` gets
  the decoded segment; a segment whose bytes are not UTF-8 or decode to control characters is
  handed over as sent, percent-encoded. A `/*` matches the rest of the path, including nothing.
- Methods are compared as sent (RFC 9110 §9.1: case-sensitive); an empty set means any method,
  and a route that allows GET also answers HEAD (§9.3.2).

Precedence among the candidates, first difference wins: the more specific host (exact >
`*.domain`, longer domain first > `*`); then the more specific path, segment by segment (literal >
`{param}` > end of an exact route > `/*`); then higher `priority`; then a fixed tie-break on the
route's fields, so the outcome never depends on the order routes arrived in. Routes that match
host and path but not the method are skipped, so routes sharing a path may split its methods.

The table is compiled once per route change and indexed by first path segment: a lookup scans only
the routes whose first segment is that literal plus those starting with `{param}` or `/*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from edgehost.contracts import RouteLookup
from edgehost.hookspecs import hookimpl
from edgehost.protocol import HostClaim, RouteSpec
from edgehost.routes import (
    HostKind,
    PathPattern,
    RoutePattern,
    RouteSyntaxError,
    normalize_host,
    parse_host,
    parse_route,
)

# Remembered answers: at most CACHED_LOOKUPS of them, each keyed by at most CACHED_KEY_CHARS of host
# and path, so a scan with random or huge hosts and paths cannot grow a worker past a few MB.
CACHED_LOOKUPS = 4096
CACHED_KEY_CHARS = 512
_UNKNOWN = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PCHAR = "!$&'()*+,;=:@-._~%"  # kept as sent when a segment is percent-encoded for a guest

# Segment ranks: larger is more specific. _END closes an exact route so that `/a` outranks `/a/*`.
_LITERAL, _PARAM_RANK, _END, _REST = 3, 2, 1, 0


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
    pattern: RoutePattern
    methods: frozenset[str]

    def match_path(self, texts: Sequence[str | None], values: Sequence[str]) -> tuple[str, ...] | None:
        path = self.pattern.path
        wanted = path.segments
        if len(texts) < len(wanted) or (not path.rest and len(texts) != len(wanted)):
            return None
        params: list[str] = []
        for position, segment in enumerate(wanted):
            if segment is None:
                if not values[position]:
                    return None
                params.append(values[position])
            elif texts[position] != segment:
                return None
        return tuple(params)

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods


def request_segments(path: str) -> tuple[tuple[str | None, ...], tuple[str, ...]]:
    """The raw path's segments for matching (decoded; None where not UTF-8) and as `{param}` values.

    `path` is the request target's path as sent, without the query, its bytes as Latin-1
    characters (so no byte is lost before the split).
    """
    raw = path[1:].split("/") if path.startswith("/") else [path]
    if "%" not in path and path.isascii():
        segments = tuple(raw)
        return segments, segments
    texts: list[str | None] = []
    values: list[str] = []
    for segment in raw:
        if "%" not in segment and segment.isascii():
            texts.append(segment)
            values.append(segment)
            continue
        sent = segment.encode("latin-1")
        try:
            text: str | None = unquote_to_bytes(sent).decode("utf-8")
        except UnicodeDecodeError:
            text = None
        texts.append(text)
        values.append(text if text is not None and not _CONTROL.search(text) else quote(sent, safe=_PCHAR))
    return tuple(texts), tuple(values)


def _compile(route: Route) -> tuple[tuple[object, ...], str | None, _Compiled]:
    """Validate and compile one route: (sort key, literal first segment or None, matcher)."""
    pattern = parse_route(route.host, route.path, route.methods)
    methods = pattern.methods | {"HEAD"} if "GET" in pattern.methods else pattern.methods
    path: PathPattern = pattern.path
    ranks = tuple(_PARAM_RANK if s is None else _LITERAL for s in path.segments)
    ranks += (_REST,) if path.rest else (_END,)
    # Sorted ascending, so negate "bigger is better" parts; the tail is the deterministic tie-break.
    key = (
        -pattern.host.kind,
        -len(pattern.host.suffix),
        tuple(-r for r in ranks),
        -route.priority,
        pattern.host.text,
        route.path,
        tuple(sorted(methods)),
        route.function_id,
        route.project,
    )
    first = path.segments[0] if path.segments and path.segments[0] is not None else None
    return key, first, _Compiled(route, pattern, methods)


class RouteTable:
    """Routes compiled for lookup; build a new table when the routes change.

    `claims` are further (host pattern, project) claims, of routes whose functions this node does
    not run, so their hosts stay their owners' here too. Raises `RouteSyntaxError` for a route that
    breaks the route syntax.
    """

    def __init__(self, routes: Iterable[Route], claims: Iterable[HostClaim] = ()) -> None:
        compiled = sorted((_compile(r) for r in routes), key=lambda kfc: kfc[0])
        self._by_first: dict[str, list[tuple[int, _Compiled]]] = {}
        self._wild: list[tuple[int, _Compiled]] = []  # first segment is {param} or the route is "/*"
        self._answers: dict[tuple[str, str, str], object] = {}
        owners: dict[str, set[str]] = {}  # exact host or ".domain" suffix -> claiming projects
        for rank, (_, first, c) in enumerate(compiled):
            (self._wild if first is None else self._by_first.setdefault(first, [])).append((rank, c))
            if c.pattern.host.kind is not HostKind.ANY:
                owners.setdefault(c.pattern.host.suffix, set()).add(c.route.project)
        for claim in claims:
            try:
                claimed = parse_host(claim.host)
            except RouteSyntaxError:  # a claim that is no host pattern covers no request's host
                continue
            if claimed.kind is not HostKind.ANY:
                owners.setdefault(claimed.suffix, set()).add(claim.project)
        # Overlapping claims of two projects exist only in data older than the CP's ownership rule:
        # one fixed owner keeps the answer the same on every node.
        self._owners = {suffix: min(projects) for suffix, projects in owners.items()}

    def lookup(self, host: str, method: str, path: str) -> Match | tuple[str, ...] | None:
        """The best Match; else the sorted methods allowed on this host and path (405); else None (404).

        `path` is the raw request path, without the query, as Latin-1 characters (see
        `request_segments`). Answers to short keys are remembered (the table never changes).
        """
        if len(host) + len(path) > CACHED_KEY_CHARS:
            return self._lookup(normalize_host(host), method, path)
        key = (host, method, path)
        found = self._answers.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            if len(self._answers) >= CACHED_LOOKUPS:
                self._answers.clear()
            found = self._answers[key] = self._lookup(normalize_host(host), method, path)
        return found  # type: ignore[return-value]

    def owner(self, host: str) -> str | None:
        """The project whose claim covers the normalised `host`: exact, else the longest suffix."""
        owner = self._owners.get(host)
        if owner is not None or not self._owners:
            return owner
        dot = host.find(".", 1)
        while dot != -1:
            owner = self._owners.get(host[dot:])
            if owner is not None:
                return owner
            dot = host.find(".", dot + 1)
        return None

    def _lookup(self, host: str, method: str, path: str) -> Match | tuple[str, ...] | None:
        owner = self.owner(host)
        texts, values = request_segments(path)
        allowed: set[str] = set()
        best: tuple[int, Match] | None = None
        first = texts[0] if texts else None
        literal = self._by_first.get(first, ()) if first is not None else ()
        for bucket in (literal, self._wild):
            for rank, c in bucket:
                if best is not None and rank > best[0]:
                    break
                if owner is None:
                    if c.pattern.host.kind is not HostKind.ANY:
                        continue
                elif c.route.project != owner or not c.pattern.host.matches(host):
                    continue
                params = c.match_path(texts, values)
                if params is None:
                    continue
                if c.allows(method):
                    names = c.pattern.path.names
                    best = (rank, Match(c.route, tuple(zip(names, params, strict=True)) if names else ()))
                    break
                allowed |= c.methods  # never empty here: a route without methods allows any
        if best is not None:
            return best[1]
        return tuple(sorted(allowed)) if allowed else None


@hookimpl
def edgehost_route_table(routes: Sequence[RouteSpec], claims: Sequence[HostClaim]) -> RouteLookup:
    return RouteTable(
        (
            Route(
                host=r.host,
                path=r.path,
                methods=frozenset(r.methods),
                function_id=r.function_id,
                priority=r.priority,
                project=r.project,
            )
            for r in routes
        ),
        claims,
    )
