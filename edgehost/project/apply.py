"""Applying an `edgefn.toml` to a control plane: only what differs is sent, in dependency order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgehost.cli.client import ApiClient
from edgehost.guestbuild import load_guest_bytes
from edgehost.project.schema import FunctionDef, Project

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


def _latest_ready(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    ready = [v for v in versions if v["state"] == "ready"]
    return max(ready, key=lambda v: v["version"]) if ready else None


def apply_project(
    project: Project, client: ApiClient, *, prune: bool = False, progress: Progress | None = None
) -> ApplyResult:
    result = ApplyResult()
    base = f"/v1/projects/{project.name}"
    existing = client.call("GET", f"{base}/functions", ok_missing=True) or {"functions": []}
    remote = {f["name"]: f for f in existing["functions"]}
    versions: dict[str, int] = {}
    for fn in project.functions:
        wasm = load_guest_bytes(fn.wasm)
        digest = hashlib.sha256(wasm).hexdigest()
        latest = _latest_ready(remote.get(fn.name, {}).get("versions", []))
        if latest and latest["sha256"] == digest and {k: latest[k] for k in _settings(fn)} == _settings(fn):
            versions[fn.name] = latest["version"]
            result.add(f"= {fn.name} v{latest['version']} unchanged", changed=False)
            continue
        created = client.call("POST", f"{base}/functions", json={"name": fn.name, **_settings(fn)})
        client.upload(created["upload_url"], wasm, progress(fn.name, len(wasm)) if progress else None)
        info = client.call("POST", created["finalize_url"])
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
    if _route_key(current["routes"]) != _route_key(wanted_routes):
        client.call("PUT", f"{base}/routes", json={"routes": wanted_routes})
        for r in wanted_routes:
            result.add(f"~ route {r['host']}{r['path']} -> {r['function']}", changed=True)
    else:
        result.add(f"= {len(wanted_routes)} routes unchanged", changed=False)

    active = client.call("GET", f"{base}/deployments", ok_missing=True) or {"deployments": []}
    deployed = {d["function"]: d for d in active["deployments"]}
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
        result.add(f"+ deploy {dep.function} v{version} where {dep.selector} ({nodes})", changed=True)

    named = {f.name for f in project.functions}
    extra = sorted(set(remote) - named)
    for name in extra:
        if prune:
            if name in deployed:
                client.call("POST", f"{base}/functions/{name}/undeploy")
            result.add(f"- {name} undeployed (not in {project.path.name})", changed=True)
        else:
            result.add(
                f"? {name} is on the control plane but not in {project.path.name} (left alone; --prune)",
                changed=False,
            )
    return result


def _route_key(routes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["host"], r["path"], tuple(sorted(r["methods"])), r["function"], r["priority"]) for r in routes
    )
