"""One line per step of an applied project (`edgefn deploy`, `edgefn dev`): `=` unchanged, `+` made,
`~` a route added, `-` removed, `?` left alone and worth a look."""

from __future__ import annotations

from edgehost.project import plan as steps

LISTED = 3  # denied imports named one by one; more are counted per package


def denied_note(denied: tuple[str, ...]) -> str:
    """The denied imports of an upload, short: up to LISTED named as they are
    (`wasi_snapshot_preview1.path_open`), more counted per package and version dropped
    (`imports 8 denied WASI calls: wasi:filesystem/types, 7 of wasi:sockets`): a componentize-py
    component imports every filesystem and socket interface, and named in full they took a line
    of several hundred characters at every registration."""
    if len(denied) <= LISTED:
        return f"imports denied WASI calls: {', '.join(denied)}"
    packages: dict[str, list[str]] = {}
    for name in denied:
        if ":" in name:  # a component's `wasi:sockets/tcp@0.2.9` or `wasi:cli/stdout@0.2.9#f`
            interface, _, function = name.partition("#")
            member = interface.split("@", 1)[0] + (f"#{function}" if function else "")
            package = member.split("/", 1)[0]
        else:  # a core module's `wasi_snapshot_preview1.path_open`
            package, member = name.split(".", 1)[0], name
        packages.setdefault(package, []).append(member)
    parts = [
        members[0] if len(members) == 1 else f"{len(members)} of {package}"
        for package, members in packages.items()
    ]
    return f"imports {len(denied)} denied WASI calls: {', '.join(parts)}"


def render_step(step: steps.Step, project_file: str) -> str:
    """`project_file` is the project file's name, for the steps about functions it no longer names."""
    match step:
        case steps.FunctionKept(name, version):
            return f"= {name} v{version} unchanged"
        case steps.FunctionUploaded(name, version, sha256, denied):
            note = f" ({denied_note(denied)})" if denied else ""
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
