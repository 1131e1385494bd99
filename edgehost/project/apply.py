"""Applying an `edgefn.toml` to a control plane: only what differs is sent, in dependency order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgehost.cli.client import ApiClient
from edgehost.cli.errors import CliError
from edgehost.guestbuild import load_guest_bytes
from edgehost.project.check import check_functions
from edgehost.project.schema import FunctionDef, Project
from edgehost.runtime import HostFunction

Progress = Callable[[str, int], Callable[[int], None]]


@dataclass
class ApplyResult:
    lines: list[str] = field(default_factory=list)
    changed: bool = False

    def add(self, line: str, *, changed: bool) -> None:
        self.lines.append(line)
        self.changed |= changed


def _settings(fn: FunctionDef) -> dict[str, Any]:
    return {
        "entrypoint": fn.entrypoint,
        "memory_pages": fn.memory_pages,
        "max_execution_ms": fn.max_execution_ms,
        "min_hot_instances": fn.min_hot_instances,
        "max_hot_instances": fn.max_hot_instances,
        "http_allow": sorted(fn.http_allow),
    }


def _reusable(fn: FunctionDef, digest: str, remote: dict[str, Any] | None, deployed: int | None) -> Any:
    """A ready version with these exact bytes and settings (the deployed one first, then the newest),
    so an unchanged function is never uploaded again, and reverting a file reuses the old version."""
    wanted = _settings(fn)
    same = [
        v
        for v in (remote or {}).get("versions", [])
        if v["state"] == "ready" and v["sha256"] == digest and {k: v[k] for k in wanted} == wanted
    ]
    return max(same, key=lambda v: (v["version"] == deployed, v["version"]), default=None)


def _undone_rollback(live: dict[str, Any] | None, remote: dict[str, Any] | None, version: int) -> str:
    """A note when the deployed version is older than the newest ready one, as a rollback leaves
    it, and this deploy replaces it: a deploy after a rollback should not undo it unnoticed."""
    ready = [v["version"] for v in (remote or {}).get("versions", []) if v["state"] == "ready"]
    if live is None or not ready or live["version"] >= max(ready) or live["version"] == version:
        return ""
    return f"; replaces v{live['version']}, undoing the rollback to it"


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
) -> ApplyResult:
    """Functions (only changed artifacts), then routes, then deployments; raises GuestBuildError
    before any request when a guest does not build or would be refused (checked against
    `host_functions`), CliError when the control plane refuses."""
    artifacts = build_artifacts(project, host_functions=host_functions)
    result = ApplyResult()
    base = f"/v1/projects/{project.name}"
    existing = client.call("GET", f"{base}/functions", ok_missing=True) or {"functions": []}
    remote = {f["name"]: f for f in existing["functions"]}
    active = client.call("GET", f"{base}/deployments", ok_missing=True) or {"deployments": []}
    deployed = {d["function"]: d for d in active["deployments"]}
    versions: dict[str, int] = {}
    for fn in project.functions:
        wasm = artifacts[fn.name]
        digest = hashlib.sha256(wasm).hexdigest()
        live = deployed.get(fn.name, {}).get("version")
        same = _reusable(fn, digest, remote.get(fn.name), live)
        if same:
            versions[fn.name] = same["version"]
            result.add(f"= {fn.name} v{same['version']} unchanged", changed=False)
            continue
        try:
            created = client.call("POST", f"{base}/functions", json={"name": fn.name, **_settings(fn)})
            client.upload(created["upload_url"], wasm, progress(fn.name, len(wasm)) if progress else None)
            info = client.call("POST", created["finalize_url"])
        except CliError as exc:  # with several functions, say whose module was refused
            raise CliError(f"function {fn.name}: {exc.message}", exc.status) from None
        versions[fn.name] = info["version"]
        denied = (
            f" (imports denied WASI calls: {', '.join(info['denied_imports'])})"
            if info["denied_imports"]
            else ""
        )
        result.add(f"+ {fn.name} v{info['version']} sha256:{info['sha256'][:12]}{denied}", changed=True)

    wanted_routes = [
        {
            "host": r.host,
            "path": r.path,
            "methods": sorted(r.methods),
            "function": r.function,
            "priority": r.priority,
        }
        for r in project.routes
    ]
    current = client.call("GET", f"{base}/routes", ok_missing=True) or {"routes": []}
    have, want = _route_keys(current["routes"]), _route_keys(wanted_routes)
    if have != want:
        client.call("PUT", f"{base}/routes", json={"routes": wanted_routes})
        for host, path, _, function, _ in sorted(set(want) - set(have)):
            result.add(f"~ route {host}{path} -> {function}", changed=True)
        for host, path, _, function, _ in sorted(set(have) - set(want)):
            result.add(f"- route {host}{path} -> {function}", changed=True)
    else:
        result.add(f"= {len(want)} routes unchanged", changed=False)

    for dep in project.deployments:
        version = versions[dep.function]
        now = deployed.get(dep.function)
        if now and now["version"] == version and now["selector"] == dep.selector:
            result.add(f"= deploy {dep.function} v{version} where {dep.selector} unchanged", changed=False)
            continue
        out = client.call(
            "POST",
            f"{base}/deployments",
            json={"function": dep.function, "version": version, "selector": dep.selector},
        )
        nodes = ", ".join(out["nodes"]) or "no node yet"
        undone = _undone_rollback(now, remote.get(dep.function), version)
        result.add(f"+ deploy {dep.function} v{version} where {dep.selector} ({nodes}{undone})", changed=True)

    # Versions of functions the file no longer names are history; only a live deployment matters.
    for name in sorted(set(deployed) - {f.name for f in project.functions}):
        if prune:
            client.call("POST", f"{base}/functions/{name}/undeploy")
            result.add(f"- {name} undeployed (not in {project.path.name})", changed=True)
        else:
            result.add(
                f"? {name} is deployed but not in {project.path.name} (left alone; --prune undeploys it)",
                changed=False,
            )
    return result


def _route_keys(routes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["host"], r["path"], tuple(sorted(r["methods"])), r["function"], r["priority"]) for r in routes
    )
