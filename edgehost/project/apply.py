"""Applying an `edgefn.toml` to a control plane: only what differs is sent, in dependency order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from edgehost.client import ApiClient, ClientError
from edgehost.controlplane import schemas
from edgehost.guestbuild import load_guest_bytes
from edgehost.limits import limits_of
from edgehost.project import plan as steps
from edgehost.project.check import check_functions
from edgehost.project.schema import FunctionDef, Project
from edgehost.runtime import HostFunction

Progress = Callable[[str, int], Callable[[int], None]]
RouteKey = tuple[str, str, tuple[str, ...], str, int]


def _registration(fn: FunctionDef) -> schemas.FunctionCreate:
    return schemas.FunctionCreate(
        name=fn.name,
        entrypoint=fn.entrypoint,
        **{**limits_of(fn), "http_allow": tuple(sorted(fn.http_allow)), "kv": tuple(sorted(fn.kv))},
    )


def _same_settings(version: schemas.VersionInfo, wanted: schemas.FunctionCreate) -> bool:
    return version.entrypoint == wanted.entrypoint and limits_of(version) == limits_of(wanted)


def _reusable(
    wanted: schemas.FunctionCreate, digest: str, remote: schemas.FunctionVersions | None, deployed: int | None
) -> schemas.VersionInfo | None:
    """A ready version with these exact bytes and settings (the deployed one first, then the newest),
    so an unchanged function is never uploaded again, and reverting a file reuses the old version."""
    same = [
        v
        for v in (remote.versions if remote else [])
        if v.state == "ready" and v.sha256 == digest and _same_settings(v, wanted)
    ]
    return max(same, key=lambda v: (v.version == deployed, v.version), default=None)


def _undone_rollback(
    live: schemas.ActiveDeployment | None, remote: schemas.FunctionVersions | None, version: int
) -> int | None:
    """The version a rollback left deployed (older than the newest ready one) when this deploy
    replaces it: a deploy after a rollback should not undo it unnoticed."""
    ready = [v.version for v in (remote.versions if remote else []) if v.state == "ready"]
    if live is None or not ready or live.version >= max(ready) or live.version == version:
        return None
    return live.version


def build_artifacts(project: Project, *, host_functions: Sequence[HostFunction]) -> dict[str, bytes]:
    """Every guest built and given the control plane's finalize checks before it hears anything:
    a broken source or a module it would refuse sends nothing and uses up no version."""
    artifacts = {fn.name: load_guest_bytes(fn.wasm) for fn in project.functions}
    check_functions(project.name, project.functions, artifacts, host_functions=host_functions)
    return artifacts


def apply_project(
    project: Project,
    client: ApiClient,
    *,
    host_functions: Sequence[HostFunction],
    prune: bool = False,
    progress: Progress | None = None,
) -> steps.Plan:
    """Functions (only changed artifacts), then routes, then deployments; returns the steps taken.

    Raises GuestBuildError before any request when a guest does not build or would be refused
    (checked against `host_functions`), ClientError when the control plane refuses (naming the
    function whose registration or upload it refused).
    """
    artifacts = build_artifacts(project, host_functions=host_functions)
    plan = steps.Plan()
    remote = {f.name: f for f in client.functions(project.name).functions}
    deployed = {d.function: d for d in client.deployments(project.name).deployments}
    versions: dict[str, int] = {}
    for fn in project.functions:
        wasm = artifacts[fn.name]
        digest = hashlib.sha256(wasm).hexdigest()
        wanted = _registration(fn)
        live = deployed.get(fn.name)
        same = _reusable(wanted, digest, remote.get(fn.name), live.version if live else None)
        if same:
            versions[fn.name] = same.version
            plan.steps.append(steps.FunctionKept(fn.name, same.version))
            continue
        try:
            created = client.create_function(project.name, wanted)
            client.upload(created.upload_url, wasm, progress(fn.name, len(wasm)) if progress else None)
            info = client.finalize(created)
        except ClientError as exc:  # with several functions, say whose module was refused
            raise ClientError(f"function {fn.name}: {exc.message}") from None
        versions[fn.name] = info.version
        plan.steps.append(
            steps.FunctionUploaded(fn.name, info.version, info.sha256, tuple(info.denied_imports))
        )

    wanted_routes = schemas.RoutesPut(
        [
            schemas.RouteIn(
                host=r.host, path=r.path, methods=sorted(r.methods), function=r.function, priority=r.priority
            )
            for r in project.routes
        ]
    )
    have, want = _route_keys(client.routes(project.name).routes), _route_keys(wanted_routes.routes)
    if have != want:
        client.put_routes(project.name, wanted_routes)
        for host, path, _, function, _ in sorted(set(want) - set(have)):
            plan.steps.append(steps.RouteChanged(True, host, path, function))
        for host, path, _, function, _ in sorted(set(have) - set(want)):
            plan.steps.append(steps.RouteChanged(False, host, path, function))
    else:
        plan.steps.append(steps.RoutesKept(len(want)))

    for dep in project.deployments:
        version = versions[dep.function]
        now = deployed.get(dep.function)
        # A rollout that serves the file's version is left to run: `rollback` or `rollout` ends it.
        serving = {s.version for s in now.shares} if now and now.shares else {now.version} if now else set()
        if now and version in serving and now.selector == dep.selector:
            plan.steps.append(steps.DeploymentKept(dep.function, version, dep.selector))
            continue
        out = client.deploy(
            project.name, schemas.DeploymentIn(function=dep.function, version=version, selector=dep.selector)
        )
        undone = _undone_rollback(now, remote.get(dep.function), version)
        plan.steps.append(steps.DeploymentMade(dep.function, version, dep.selector, tuple(out.nodes), undone))

    # Versions of functions the file no longer names are history; only a live deployment matters.
    for name in sorted(set(deployed) - {f.name for f in project.functions}):
        if prune:
            client.undeploy(project.name, name)
            plan.steps.append(steps.FunctionDropped(name, undeployed=True))
        else:
            plan.steps.append(steps.FunctionDropped(name, undeployed=False))
    return plan


def _route_keys(routes: list[schemas.RouteIn]) -> list[RouteKey]:
    return sorted((r.host, r.path, tuple(sorted(r.methods)), r.function, r.priority) for r in routes)
