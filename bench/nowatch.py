"""`edgefn` with the sync agent's watch long-poll switched off, so a runner learns changes by heartbeat only.

No setting disables the watch, so the heartbeats-only propagation case runs the real CLI through
this wrapper, which replaces `SyncAgent.watch_forever` with an idle wait before the CLI starts.
"""

from __future__ import annotations

import asyncio
import sys

from edgehost.cli.main import main
from edgehost.runner.agent import SyncAgent


async def _no_watch(self: SyncAgent) -> None:
    await asyncio.Event().wait()


if __name__ == "__main__":
    SyncAgent.watch_forever = _no_watch  # type: ignore[method-assign]
    sys.argv[0] = "edgefn"
    main()
