"""A router plugin stricter than the built-in one: it refuses any route whose path holds `legacy`,
as a third party's router or data older than the CP's checks would."""

from __future__ import annotations

from collections.abc import Sequence

from edgehost.hookspecs import hookimpl
from edgehost.plugins.routing import RouteTable
from edgehost.plugins.routing import edgehost_route_table as builtin_route_table
from edgehost.protocol import HostClaim, RouteSpec


@hookimpl(tryfirst=True)
def edgehost_route_table(routes: Sequence[RouteSpec], claims: Sequence[HostClaim]) -> RouteTable:
    for route in routes:
        if "legacy" in route.path:
            raise ValueError(f"path {route.path!r} uses a form this router does not support")
    return builtin_route_table(routes=routes, claims=claims)
