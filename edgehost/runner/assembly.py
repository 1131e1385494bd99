"""The one assembly of a runner process's serving parts, for every kind of runner process.

`edgefn serve --mode runner` and `edgefn dev` (through `startup.runner`, processes `single` and
`agent`) and each granian ingress worker (`worker.create_app`, process `worker`) build the same
parts the same way: the node state with its artifact client, and the ingress that serves from it,
except in the agent of ingress workers, which serves no requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edgehost.context import AppContext
from edgehost.contracts import ProcessKind
from edgehost.protocol import DesiredState, Report
from edgehost.runner.fetcher import artifact_client
from edgehost.runner.ingress import Ingress
from edgehost.runner.node import NodeState


@dataclass
class RunnerParts:
    node: NodeState
    ingress: Ingress | None  # None in the agent of ingress workers

    async def close(self) -> None:
        """Stops serving, takes the live functions down and closes the artifact client."""
        if self.ingress is not None:
            self.ingress.close()
        await self.node.close()
        if self.node.http is not None:
            await self.node.http.aclose()


def assemble_runner(
    ctx: AppContext,
    process: ProcessKind,
    *,
    report: Callable[[Report], Awaitable[None]] | None = None,
    publish: Callable[[DesiredState], None] | None = None,
) -> RunnerParts:
    """Builds the parts and registers them in `ctx.services` (`node`, and `ingress` when there is one).

    `report` sends a deployment's outcome to the CP (None in a worker: its agent reports);
    `publish` hands each applied desired state to the workers (the agent of ingress workers only).
    Raises RuntimeError when the caching or pooling plugin is disabled.
    """
    node = NodeState(ctx, report=report, http=artifact_client(ctx.settings), process=process, publish=publish)
    ingress = None if process == "agent" else Ingress.from_settings(node, ctx.settings.runner)
    ctx.services.add(node=node)
    if ingress is not None:
        ctx.services.add(ingress=ingress)
    return RunnerParts(node, ingress)
