"""Who owns which routes: storing a project's routes, and refusing one that overlaps another
project's (docs/routing.md, "Ownership"). The check is CPU-bound (edgehost/route_overlaps.py), so it
runs off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from edgehost.controlplane.access import projects_of
from edgehost.db.tables import Route
from edgehost.errors import ApiError
from edgehost.route_overlaps import first_overlap
from edgehost.routes import HostKind, RoutePattern, RouteSyntaxError, parse_route, quoted

INSERT_BATCH = 1000


async def store_routes(project: dict[str, Any], rows: list[Route]) -> None:
    await Route.delete().where(Route.project == project["id"])
    # A statement per INSERT_BATCH rows, not a round trip per route (and within SQLite's 32,766
    # bound parameters a statement).
    for start in range(0, len(rows), INSERT_BATCH):
        await Route.insert(*rows[start : start + INSERT_BATCH])


async def refuse_overlaps(mine: list[RoutePattern], project: dict[str, Any], subject: str) -> None:
    rows = await Route.select(Route.host, Route.path, Route.project.name).where(
        Route.project != project["id"]
    )
    # Every other project's routes, parsed and checked: CPU-bound, so off the event loop, which
    # keeps serving heartbeats and (under `edgefn dev`) the ingress meanwhile.
    clash = await asyncio.to_thread(_first_clash, mine, rows)
    if clash is None:
        return
    route, other, owner = clash
    whose = f"project {quoted(owner)}" if owner in await projects_of(subject) else "another project"
    if route.host.kind is HostKind.ANY:
        raise ApiError(
            409,
            "path_taken",
            f'path {quoted(route.path.text)} on host "*" overlaps {quoted(other.path.text)}, which {whose}'
            ' routes on host "*": there each path belongs to one project',
        )
    raise ApiError(
        409,
        "host_taken",
        f"host {quoted(route.host.text)} overlaps {quoted(other.host.text)}, which {whose} uses in its"
        " routes",
    )


def _first_clash(
    mine: list[RoutePattern], rows: list[dict[str, Any]]
) -> tuple[RoutePattern, RoutePattern, str] | None:
    """The first of `mine` that overlaps a stored route of another project: both, and its project."""
    theirs: list[RoutePattern] = []
    owners: list[str] = []
    for row in rows:
        try:
            theirs.append(parse_route(row["host"], row["path"]))
        except RouteSyntaxError:  # stored before the syntax was one rule: it claims what it says
            continue
        owners.append(row["project.name"])
    clash = first_overlap(mine, theirs)
    if clash is None:
        return None
    route, other = clash
    return route, other, owners[next(i for i, pattern in enumerate(theirs) if pattern is other)]
