"""The CP's route ownership check and the runner's route table at the route limit and beyond.

One project at `api.max_routes_per_project` (1,000) replaces its routes while other projects hold
`--theirs` routes (20 projects at the limit: 20,000), none overlapping, so every route is checked
in full. The baseline is the pairwise check the CP ran before (`RoutePattern.overlaps` on every
pair), timed once (it takes seconds). Shapes:

- `mixed`: a third exact hosts, a third `*.domain` wildcards, a third shared-host paths with
  `{param}` and `/*`, as tenants write them;
- `shared-prefix`: only shared-host paths, each of `mine` all `{param}` but its last segment,
  each of `theirs` all literal, so every one of `mine` could match every branch of `theirs`;
- `alternating`: `mine` `/{p}/mN/x`, `theirs` `/tN/{q}/y`: every pair is compatible up to the last
  segment, the quadratic worst case no index avoids (see edgehost/route_overlaps.py).

Also the runner's route table (`plugins/routing.py`) compiled from every project's routes.

    .venv/bin/python -m bench.route_overlaps [--theirs 20000] [--mine 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from bench.common import Row, median, say, table
from edgehost.plugins.routing import Route, RouteTable
from edgehost.route_overlaps import first_overlap
from edgehost.routes import RoutePattern, parse_route


def _mixed(project: str, count: int) -> list[tuple[str, str]]:
    routes = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            routes.append((f"h{i}.{project}.example.com", f"/api/{i}/{{id}}"))
        elif kind == 1:
            routes.append((f"*.w{i}.{project}.example.com", "/*"))
        else:
            routes.append(("*", f"/{project}/{i}/{{id}}/*"))
    return routes


def _pairwise(
    mine: Sequence[RoutePattern], theirs: Sequence[RoutePattern]
) -> tuple[RoutePattern, RoutePattern] | None:
    """The check as it was: every pair."""
    for route in mine:
        for other in theirs:
            if route.overlaps(other):
                return route, other
    return None


def _time(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return median(samples)


def run(theirs_count: int = 20_000, mine_count: int = 1000, rounds: int = 3) -> list[Row]:
    rows: list[Row] = []
    projects = max(1, theirs_count // mine_count)
    shapes = {
        "mixed": (
            _mixed("mine", mine_count),
            [r for p in range(projects) for r in _mixed(f"p{p}", theirs_count // projects)],
        ),
        "shared-prefix": (
            [("*", f"/{{a}}/{{b}}/{{c}}/mine{i}") for i in range(mine_count)],
            [("*", f"/a{i}/b{i}/c{i}/theirs") for i in range(theirs_count)],
        ),
        "alternating": (
            [("*", f"/{{p}}/m{i}/x") for i in range(mine_count)],
            [("*", f"/t{i}/{{q}}/y") for i in range(theirs_count)],
        ),
    }
    for shape, (mine_text, theirs_text) in shapes.items():
        mine = [parse_route(h, p) for h, p in mine_text]
        theirs = [parse_route(h, p) for h, p in theirs_text]
        assert first_overlap(mine, theirs) is None and _pairwise(mine[:50], theirs) is None
        say(f"route-overlaps {shape}: indexed check of {len(mine)} against {len(theirs)}")
        indexed = _time(lambda m=mine, t=theirs: first_overlap(m, t), rounds)  # type: ignore[misc]
        say(f"route-overlaps {shape}: pairwise check (the old method), once")
        pairwise = _time(lambda m=mine, t=theirs: _pairwise(m, t), 1)  # type: ignore[misc]
        rows.append(
            Row(
                "route-overlaps",
                f"check {len(mine):,} vs {len(theirs):,} ({shape})",
                indexed * 1000,
                "ms",
                baseline=pairwise * 1000,
                baseline_label="pairwise",
                note="index built and queried; ratio = indexed / pairwise",
            )
        )
    routes = [
        Route(h, p, frozenset(), f"f{i}", 0, f"p{i // mine_count}")
        for i, (h, p) in enumerate([*shapes["mixed"][0], *shapes["mixed"][1]])
    ]
    say(f"route-table: compiling {len(routes)} routes")
    compile_s = _time(lambda: RouteTable(routes), rounds)
    rows.append(Row("route-table", f"compile {len(routes):,} routes (mixed)", compile_s * 1000, "ms"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.route_overlaps", description=__doc__)
    parser.add_argument("--theirs", type=int, default=20_000)
    parser.add_argument("--mine", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(table(run(args.theirs, args.mine, args.rounds)))


if __name__ == "__main__":
    main()
