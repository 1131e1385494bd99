"""The session of one `edgefn dev`: applies the project through the CP's own API, watches its
file and every guest source it names, re-applies a saved change and says when the runner serves
it (a request right after a reload must never meet the previous version)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from edgehost.cli.plan_view import render_plan
from edgehost.client import ApiClient, ClientError
from edgehost.context import AppContext
from edgehost.guestbuild import GuestBuildError, guest_sources
from edgehost.project import Project, ProjectError, load_project
from edgehost.project.apply import apply_project
from edgehost.project.plan import DeploymentMade
from edgehost.toolchains.process import notice_if_slow

WATCH_PERIOD_S = 0.5
DEBOUNCE_S = 0.2


def _fingerprint(project_file: Path, project: Project | None) -> tuple[tuple[str, int, int], ...]:
    """Modification time and size of the project file and every guest source it names."""
    files = [project_file]
    if project is not None:
        for fn in project.functions:
            files.extend(guest_sources(fn.wasm))
    stamps = []
    for f in files:
        with contextlib.suppress(OSError):
            stat = f.stat()
            stamps.append((str(f), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(stamps))


def routed_not_deployed(project: Project) -> list[str]:
    """Functions some route names but no [[deployments]] table does: a silent 404 otherwise."""
    return sorted({r.function for r in project.routes} - {d.function for d in project.deployments})


class DevSession:
    def __init__(self, ctx: AppContext, project_file: Path, token: str, api_url: str) -> None:
        self.ctx = ctx
        self.project_file = project_file
        self.token = token
        self.api_url = api_url
        self.project: Project | None = None
        # function id -> version of each deployment the last apply made: what a reload waits for
        self.made: dict[str, int] = {}
        self.applied: tuple[tuple[str, int, int], ...] = ()  # the files' stamps the last apply read
        from edgehost.startup import host_functions

        self.host_functions = host_functions(ctx)

    async def apply(self) -> bool:
        try:
            project = load_project(self.project_file)
        except ProjectError as exc:
            self.applied = _fingerprint(self.project_file, self.project)
            click.echo(f"{exc}\nnot applied; fix the file and save it again", err=True)
            return False
        self.project = project  # watch its sources from now on, even if this version does not build
        # Taken before the sources are built: a save during the build (or before watch starts) is
        # a change still to apply, not the baseline.
        self.applied = _fingerprint(self.project_file, project)
        for name in routed_not_deployed(project):
            click.echo(
                f"warning: {name} is routed but deployed nowhere, so its routes answer 404; add "
                f'[[deployments]] function = "{name}" to {self.project_file.name}',
                err=True,
            )

        def run() -> tuple[list[str], dict[str, int]]:
            with ApiClient(self.api_url, self.token) as client:
                plan = apply_project(project, client, host_functions=self.host_functions, prune=True)
            made = {
                f"{project.name}.{s.function}": s.version for s in plan.steps if isinstance(s, DeploymentMade)
            }
            return render_plan(plan, project.path.name), made

        self.made = {}
        try:
            lines, self.made = await asyncio.to_thread(run)
        except (ClientError, GuestBuildError) as exc:
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            click.echo(f"error: {message}\nnot applied; still serving the previous version", err=True)
            return False
        for line in lines:
            click.echo(f"  {line}", err=True)
        return True

    def deployed_ids(self) -> list[str]:
        """The function ids the applied project deploys."""
        project = self.project
        return [f"{project.name}.{d.function}" for d in project.deployments] if project else []

    async def wait_until_serving(self, timeout: float = 15.0) -> bool:
        """True once the ingress's snapshot serves every deployed function, in the version the
        last apply deployed (or holds why it cannot); False after `timeout` seconds. The version's
        state turns `cached` before the snapshot with its routes is swapped in, and a request in
        between would get a 404, or after a reload the previous version."""
        from edgehost.runner.node import NodeState

        node = self.ctx.services.require(NodeState)
        wanted = set(self.deployed_ids())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with notice_if_slow("still waiting for this runner to compile and start the deployed guests"):
            while loop.time() < deadline:
                snapshot = node.snapshot
                live = {fid: lf.deployment.version for fid, lf in snapshot.functions.items()}
                if wanted <= {*live, *snapshot.unavailable} and all(
                    live.get(fid) == version or fid in snapshot.unavailable
                    for fid, version in self.made.items()
                ):
                    return True
                await asyncio.sleep(0.05)
        return False

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_PERIOD_S)
            now = _fingerprint(self.project_file, self.project)
            if now == self.applied:
                continue
            while True:  # debounce: editors write in several steps; apply once the files settle
                await asyncio.sleep(DEBOUNCE_S)
                settled, now = now, _fingerprint(self.project_file, self.project)
                if settled == now:
                    break
            click.echo(f"change detected in {self.project_file.parent}, re-applying", err=True)
            if await self.apply() and self.made:
                await self.say_serving()

    async def say_serving(self) -> None:
        """Says when the versions a reload deployed answer here, so a request made after the line
        never meets the previous version (the runner swaps them in a moment after the deploy)."""
        from edgehost.runner.node import NodeState

        made = ", ".join(f"{fid.split('.', 1)[1]} v{version}" for fid, version in sorted(self.made.items()))
        if not await self.wait_until_serving():
            click.echo(f"warning: this runner does not serve {made} yet", err=True)
            return
        snapshot = self.ctx.services.require(NodeState).snapshot
        failed = [
            snapshot.unavailable_detail(fid) for fid in sorted(self.made) if fid in snapshot.unavailable
        ]
        click.echo("\n".join(f"warning: {detail}" for detail in failed) or f"serving {made}", err=True)
