"""The indexed overlap check (edgehost/route_overlaps.py) finds exactly the overlaps the pairwise rule
(`RoutePattern.overlaps`) finds, on random routes with a fixed seed."""

from __future__ import annotations

import random

import pytest

from edgehost.route_overlaps import first_overlap, overlapping_pairs
from edgehost.routes import RoutePattern, parse_route

_HOSTS = [
    "*",
    "*",
    "*",
    "a.example.com",
    "b.example.com",
    "q.b.example.com",
    "example.com",
    "*.example.com",
    "*.b.example.com",
    "*.q.b.example.com",
    "x.test",
    "*.x.test",
    "example.org",
]
_WORDS = ["a", "b", "users", "caf%C3%A9", "café"]


def _random_path(rng: random.Random) -> str:
    segments = [rng.choice(_WORDS) if rng.random() < 0.6 else f"{{p{i}}}" for i in range(rng.randint(0, 4))]
    path = "/" + "/".join(segments)
    ending = rng.random()
    if ending < 0.25:
        path = path.rstrip("/") + "/*"
    elif ending < 0.4 and segments:
        path += "/"  # a trailing empty segment, which no `{param}` matches
    return path


def _random_routes(rng: random.Random, count: int) -> list[RoutePattern]:
    return [parse_route(rng.choice(_HOSTS), _random_path(rng)) for _ in range(count)]


@pytest.mark.parametrize("seed", range(40))
def test_indexed_check_finds_exactly_the_pairwise_overlaps(seed: int) -> None:
    rng = random.Random(seed)
    mine = _random_routes(rng, rng.randint(0, 60))
    theirs = _random_routes(rng, rng.randint(0, 60))
    expected = {(i, j) for i, a in enumerate(mine) for j, b in enumerate(theirs) if a.overlaps(b)}
    assert overlapping_pairs(mine, theirs) == expected


@pytest.mark.parametrize("seed", range(40))
def test_first_overlap_is_the_pairwise_first_pair(seed: int) -> None:
    rng = random.Random(1000 + seed)
    mine = _random_routes(rng, rng.randint(1, 30))
    theirs = _random_routes(rng, rng.randint(1, 30))
    pairwise = next(((a, b) for a in mine for b in theirs if a.overlaps(b)), None)
    found = first_overlap(mine, theirs)
    assert found == pairwise
    if found is not None:  # the very objects, so callers can find the owner of `theirs`' one
        assert any(found[1] is other for other in theirs)


def test_routes_sharing_a_prefix() -> None:
    """Many of `mine` under one `{param}` prefix against many literal branches of `theirs`."""
    mine = [parse_route("*", f"/{{a}}/{{b}}/m{i}") for i in range(50)]
    theirs = [parse_route("*", f"/a{i}/b{i}/t") for i in range(50)]
    assert first_overlap(mine, theirs) is None
    assert first_overlap([*mine, parse_route("*", "/{x}/b7/{y}")], theirs) == (
        parse_route("*", "/{x}/b7/{y}"),
        theirs[7],
    )
