"""One line per step of an applied project (`edgefn deploy`, `edgefn dev`): `=` unchanged, `+` made,
`~` a route added, `-` removed, `?` left alone and worth a look."""

from __future__ import annotations

from edgehost.project import plan as steps


def render_step(step: steps.Step, project_file: str) -> str:
    """`project_file` is the project file's name, for the steps about functions it no longer names."""
    match step:
        case steps.FunctionKept(name, version):
            return f"= {name} v{version} unchanged"
        case steps.FunctionUploaded(name, version, sha256, denied):
            note = f" (imports denied WASI calls: {', '.join(denied)})" if denied else ""
            return f"+ {name} v{version} sha256:{sha256[:12]}{note}"
        case steps.RoutesKept(count):
            return f"= {count} routes unchanged"
        case steps.RouteChanged(added, host, path, function):
            return f"{'~' if added else '-'} route {host}{path} -> {function}"
        case steps.DeploymentKept(function, version, selector):
            return f"= deploy {function} v{version} where {selector} unchanged"
        case steps.DeploymentMade(function, version, selector, nodes, undone):
            where = ", ".join(nodes) or "no node yet"
            undoes = f"; replaces v{undone}, undoing the rollback to it" if undone is not None else ""
            return f"+ deploy {function} v{version} where {selector} ({where}{undoes})"
        case steps.FunctionDropped(name, undeployed=True):
            return f"- {name} undeployed (not in {project_file})"
        case steps.FunctionDropped(name):
            return f"? {name} is deployed but not in {project_file} (left alone; --prune undeploys it)"


def render_plan(plan: steps.Plan, project_file: str) -> list[str]:
    return [render_step(step, project_file) for step in plan.steps]
