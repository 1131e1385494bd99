"""Which of one project's routes overlap other projects' routes, without comparing every pair.

The ownership rule is `RoutePattern.overlaps` (edgehost/routes.py). Checked pairwise, one
project's routes against every other project's cost len(mine) times len(theirs) comparisons:
2,000 routes against 20,000 took 25 s, a stall for the CP's event loop and for `edgefn dev`'s
ingress beside it. Here both sides are indexed and only what can overlap is visited:

- Explicit host claims (exact names and `*.domain` wildcards) sit in a tree of DNS labels read
  from the top-level label down (RFC 1034 §3.1's order). An exact name overlaps the wildcards
  above it and the same name; a wildcard overlaps the wildcards above it and everything below
  it. Cost per route: its number of labels, plus the overlaps found.
- Paths of routes on the shared host `*` sit in a tree of path segments, `{param}` being one more
  edge, one tree per side. The two trees are walked together from the root: a literal edge pairs
  with the same literal and with `{param}` (but `{param}` never with the empty segment of a
  trailing slash), so routes that share a prefix are handled once, and a pair of subtrees that
  holds no pair of pattern lengths that can overlap is skipped.

Both sides having wildcards, the worst case stays quadratic (deciding whether any two patterns
with don't-care positions on both sides are compatible is the orthogonal-vectors problem, with no
known sub-quadratic algorithm); `api.max_routes_per_project` bounds one side, and the CP runs the
check off its event loop.

`overlapping_pairs` yields exactly the pairs the pairwise check would find (the property test in
tests/test_route_overlaps.py compares them on random routes); `first_overlap` is its least pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

from edgehost.routes import HostKind, HostPattern, PathPattern, RoutePattern

NONE = math.inf  # the least index of an empty set


class _HostNode:
    __slots__ = ("children", "exact", "wild")

    def __init__(self) -> None:
        self.children: dict[str, _HostNode] = {}
        self.exact: list[int] = []  # claims of this very name
        self.wild: list[int] = []  # `*.` this name: every name below it

    def below(self) -> Iterator[int]:
        """Every claim strictly below this name."""
        for child in self.children.values():
            yield from child.exact
            yield from child.wild
            yield from child.below()


def _labels(host: HostPattern) -> list[str]:
    """The claim's name as labels, top-level first: `*.a.example.com` -> com, example, a."""
    return host.suffix.lstrip(".").split(".")[::-1]


class _HostIndex:
    """Explicit host claims of `theirs`, for one route's overlaps at a time."""

    def __init__(self, theirs: Sequence[RoutePattern]) -> None:
        self.root = _HostNode()
        for index, route in enumerate(theirs):
            if route.host.kind is not HostKind.ANY:
                node = self.root
                for label in _labels(route.host):
                    node = node.children.setdefault(label, _HostNode())
                (node.exact if route.host.kind is HostKind.EXACT else node.wild).append(index)

    def overlapping(self, host: HostPattern) -> Iterator[int]:
        """Claims an explicit `host` overlaps (`HostPattern.overlaps`), each once."""
        node = self.root
        for label in _labels(host):
            yield from node.wild  # a wildcard above the name covers it (the root holds none: no `*.`)
            child = node.children.get(label)
            if child is None:
                return
            node = child
        if host.kind is HostKind.EXACT:
            yield from node.exact
        else:
            yield from node.wild
            yield from node.below()


class _PathNode:
    """Patterns whose first `depth` segments are the edges from the root to here."""

    __slots__ = (
        "ends",
        "lengths",
        "literal",
        "max_len",
        "min_below",
        "min_end",
        "min_rest_end",
        "param",
        "rest_ends",
        "rest_min",
    )

    def __init__(self) -> None:
        self.literal: dict[str, _PathNode] = {}
        self.param: _PathNode | None = None
        self.ends: list[int] = []  # patterns that end here, `/*` or not
        self.rest_ends: list[int] = []  # those of them that end in `/*`
        self.min_end = self.min_rest_end = self.min_below = NONE  # least index of each set
        # Over the subtree, this node included: every pattern length, the shortest `/*` one, the longest.
        self.lengths: set[int] = set()
        self.rest_min = NONE
        self.max_len = 0

    @property
    def min_all(self) -> float:
        return min(self.min_end, self.min_below)

    def add(self, index: int, path: PathPattern) -> None:
        length, node = len(path.segments), self
        for segment in path.segments:
            node._count(index, length, path.rest)
            node.min_below = min(node.min_below, index)
            if segment is None:
                node.param = node.param or _PathNode()
                node = node.param
            else:
                node = node.literal.setdefault(segment, _PathNode())
        node._count(index, length, path.rest)
        node.ends.append(index)
        node.min_end = min(node.min_end, index)
        if path.rest:
            node.rest_ends.append(index)
            node.min_rest_end = min(node.min_rest_end, index)

    def _count(self, index: int, length: int, rest: bool) -> None:
        self.lengths.add(length)
        self.max_len = max(self.max_len, length)
        if rest:
            self.rest_min = min(self.rest_min, length)

    def below(self) -> Iterator[int]:
        for child in self.children():
            yield from child.ends
            yield from child.below()

    def children(self) -> Iterator[_PathNode]:
        yield from self.literal.values()
        if self.param is not None:
            yield self.param


def _may_overlap(a: _PathNode, b: _PathNode) -> bool:
    """Some pattern of `a`'s subtree and one of `b`'s have lengths that can overlap: equal, or the
    shorter one ends in `/*`."""
    return not a.lengths.isdisjoint(b.lengths) or a.rest_min < b.max_len or b.rest_min < a.max_len


def _child_pairs(a: _PathNode, b: _PathNode) -> Iterator[tuple[_PathNode, _PathNode]]:
    """Pairs of children whose edges some one segment matches: the same literal, a non-empty
    literal and `{param}`, or two `{param}`s."""
    small, large = (a.literal, b.literal) if len(a.literal) <= len(b.literal) else (b.literal, a.literal)
    for text, child in small.items():
        other = large.get(text)
        if other is not None:
            yield (child, other) if small is a.literal else (other, child)
    if b.param is not None:
        yield from ((child, b.param) for text, child in a.literal.items() if text)
    if a.param is not None:
        yield from ((a.param, child) for text, child in b.literal.items() if text)
        if b.param is not None:
            yield a.param, b.param


# A set of overlapping pairs: every index of the first set with every index of the second; with
# the least index of each, so the least pair of many groups needs no expansion.
Group = tuple[float, float, Callable[[], Iterable[int]], Callable[[], Iterable[int]]]
# The least pair found so far: a walk skips what cannot beat it.
Bound = Callable[[], tuple[float, float]]


def _path_groups(mine: _PathNode, theirs: _PathNode, bound: Bound) -> Iterator[Group]:
    """The overlapping pairs of two path trees as groups, walking node pairs whose segments so far
    are compatible. Subtree pairs whose least pair could not be below `bound()` are skipped."""
    stack = [(mine, theirs)] if _may_overlap(mine, theirs) else []
    while stack:
        a, b = stack.pop()
        if a.ends and b.ends:  # same length
            yield a.min_end, b.min_end, partial(iter, a.ends), partial(iter, b.ends)
        if a.rest_ends and b.min_below < NONE:  # `/*` here matches any longer pattern
            yield a.min_rest_end, b.min_below, partial(iter, a.rest_ends), b.below
        if b.rest_ends and a.min_below < NONE:
            yield a.min_below, b.min_rest_end, a.below, partial(iter, b.rest_ends)
        for pair in _child_pairs(a, b):
            if _may_overlap(*pair) and (pair[0].min_all, pair[1].min_all) < bound():
                stack.append(pair)


def overlapping_groups(
    mine: Sequence[RoutePattern],
    theirs: Sequence[RoutePattern],
    bound: Bound = lambda: (NONE, NONE),
) -> Iterator[Group]:
    """Every pair (index in `mine`, index in `theirs`) that breaks the ownership rule, in groups."""
    hosts = _HostIndex(theirs)
    for index, route in enumerate(mine):
        if route.host.kind is not HostKind.ANY and (index, 0) < bound():
            found = list(hosts.overlapping(route.host))
            if found:
                yield index, min(found), partial(iter, (index,)), partial(iter, found)
    trees = _PathNode(), _PathNode()
    for tree, routes in zip(trees, (mine, theirs), strict=True):
        for index, route in enumerate(routes):
            if route.host.kind is HostKind.ANY:
                tree.add(index, route.path)
    yield from _path_groups(*trees, bound)


def overlapping_pairs(mine: Sequence[RoutePattern], theirs: Sequence[RoutePattern]) -> set[tuple[int, int]]:
    """All of them, expanded: for tests and small sets (the number of pairs can be quadratic)."""
    return {(i, j) for _, _, left, right in overlapping_groups(mine, theirs) for i in left() for j in right()}


def first_overlap(
    mine: Sequence[RoutePattern], theirs: Sequence[RoutePattern]
) -> tuple[RoutePattern, RoutePattern] | None:
    """The least pair (the earliest of `mine`, then the earliest of `theirs`) that breaks the
    ownership rule, or None: the pair a pairwise scan would find first."""
    best: list[tuple[float, float]] = [(NONE, NONE)]  # read by the walk as it goes
    for i, j, _, _ in overlapping_groups(mine, theirs, lambda: best[0]):
        best[0] = min(best[0], (i, j))
    i, j = best[0]
    return None if i == NONE else (mine[int(i)], theirs[int(j)])
