"""A router plugin stricter than the built-in one: it refuses any route whose path holds `legacy`,
as a third party's router or data older than the CP's checks would. It also refuses to run on an
event loop's thread: the runner builds route tables in a thread, so compiling many routes never
holds up the requests its loop serves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from edgehost.hookspecs import hookimpl
from edgehost.plugins.routing import RouteTable
from edgehost.plugins.routing import edgehost_route_table as builtin_route_table
from edgehost.protocol import HostClaim, RouteSpec


@hookimpl(tryfirst=True)
def edgehost_route_table(routes: Sequence[RouteSpec], claims: Sequence[HostClaim]) -> RouteTable:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread, as it should be
        pass
    else:
        raise RuntimeError("route table built on the event loop's thread")
    for route in routes:
        if "legacy" in route.path:
            raise ValueError(f"path {route.path!r} uses a form this router does not support")
    return builtin_route_table(routes=routes, claims=claims)
