"""The developer API under `/v1`: projects, functions, routes, deployments, rollback, status."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from litestar import Request, Router, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, Parameter

from edgehost.controlplane import access
from edgehost.controlplane.access import ADMIN, READ, WRITE
from edgehost.controlplane.openapi import refusals
from edgehost.controlplane.schemas import (
    MAX_VERSION,
    NAME_PATTERN,
    Deployed,
    DeploymentIn,
    DeploymentList,
    FunctionCreate,
    FunctionCreated,
    FunctionList,
    MemberIn,
    RollbackIn,
    RolloutIn,
    RoutesPut,
    VersionInfo,
)
from edgehost.controlplane.tail import tail
from edgehost.errors import ApiError

# Path parameters are checked like body fields, so no malformed name or out-of-range number reaches a query.
ProjectName = Annotated[str, Parameter(pattern=NAME_PATTERN, max_length=63)]
FunctionName = Annotated[str, Parameter(pattern=NAME_PATTERN, max_length=63)]
VersionNumber = Annotated[int, Parameter(ge=1, le=MAX_VERSION)]


def bearer(request: Request[Any, Any, Any]) -> str:
    return bearer_token(request.headers.get("authorization", ""))


def bearer_token(header: str, kind: str = "developer") -> str:
    """The token of an `Authorization: Bearer <token>` header value; 401 naming the `kind` of token."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", f"send a {kind} token as 'Authorization: Bearer <token>'")
    return token.strip()


def refusal(exc: Exception) -> ApiError:
    """The 401/403 of an authentication plugin's refusal (an exception with a `message`).

    Anything else is a fault of the server, re-raised so it is logged and answered 500, never
    passed off as the caller's bad credential.
    """
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        raise exc
    status = 403 if getattr(exc, "status", 401) == 403 else 401
    return ApiError(status, "forbidden" if status == 403 else "unauthorized", message)


async def provide_caller(request: Request[Any, Any, Any], state: State) -> str:
    """The authenticated developer; every `/v1` call except artifact transfer needs one."""
    ctx = state.ctx
    try:
        subject = ctx.hook.edgehost_authenticate_developer(token=bearer(request), ctx=ctx)
        if inspect.isawaitable(subject):
            subject = await subject
    except ApiError:
        raise
    except Exception as exc:
        raise refusal(exc) from None
    if not subject:
        raise ApiError(401, "unauthorized", "no authentication plugin accepted the token")
    return str(subject)


@get("/projects", tags=["projects"], summary="List the projects the caller belongs to")
async def list_projects(caller: NamedDependency[str]) -> dict[str, Any]:
    return {"projects": await access.projects_of(caller)}


@post(
    "/projects/{project:str}/members",
    status_code=200,
    tags=["projects"],
    summary="Add a member to a project, or change their role",
    responses=refusals(404),
)
async def add_member(
    project: ProjectName, data: JSONBody[MemberIn], caller: NamedDependency[str]
) -> dict[str, Any]:
    row = await access.project_for(caller, project, ADMIN)
    await access.add_member(row["id"], data.subject, data.role)
    return {"project": project, "subject": data.subject, "role": data.role}


@post(
    "/projects/{project:str}/functions",
    status_code=201,
    tags=["functions"],
    summary="Register a new version of a function and get its upload URL",
    description="Creates the project (owned by the caller) and the function on first use.",
    responses=refusals(422),
)
async def create_function(
    project: ProjectName, data: JSONBody[FunctionCreate], caller: NamedDependency[str], state: State
) -> FunctionCreated:
    row = await access.project_for(caller, project, WRITE, create=True)
    return await state.registry.create_version(row, data)


@get(
    "/projects/{project:str}/functions",
    tags=["functions"],
    summary="List a project's functions and their versions",
    responses=refusals(404),
)
async def list_functions(project: ProjectName, caller: NamedDependency[str], state: State) -> FunctionList:
    row = await access.project_for(caller, project, READ)
    return FunctionList(await state.registry.list_functions(row))


@post(
    "/projects/{project:str}/functions/{name:str}/versions/{version:int}/finalize",
    status_code=200,
    tags=["functions"],
    summary="Validate an uploaded version and make it ready",
    description="Idempotent: a version that is ready already is answered as it is.",
    responses=refusals(404, 409, 413, 422),
)
async def finalize(
    project: ProjectName,
    name: FunctionName,
    version: VersionNumber,
    caller: NamedDependency[str],
    state: State,
) -> VersionInfo:
    row = await access.project_for(caller, project, WRITE)
    return await state.registry.finalize(row, name, version)


@get(
    "/projects/{project:str}/functions/{name:str}/versions/{version:int}",
    tags=["functions"],
    summary="Get one version of a function",
    responses=refusals(404),
)
async def get_version(
    project: ProjectName,
    name: FunctionName,
    version: VersionNumber,
    caller: NamedDependency[str],
    state: State,
) -> VersionInfo:
    row = await access.project_for(caller, project, READ)
    return await state.registry.info(await state.registry.version_row(row, name, version))


@put(
    "/projects/{project:str}/routes",
    status_code=200,
    tags=["routes"],
    summary="Replace all of a project's routes",
    responses=refusals(409, 422),
)
async def replace_routes(
    project: ProjectName, data: JSONBody[RoutesPut], caller: NamedDependency[str], state: State
) -> dict[str, Any]:
    row = await access.project_for(caller, project, WRITE, create=True)
    count = await state.deployments.replace_routes(row, data.routes, caller)
    return {"routes": count}


@get(
    "/projects/{project:str}/routes",
    tags=["routes"],
    summary="List a project's routes",
    responses=refusals(404),
)
async def list_routes(project: ProjectName, caller: NamedDependency[str], state: State) -> RoutesPut:
    row = await access.project_for(caller, project, READ)
    return RoutesPut(await state.deployments.list_routes(row))


@post(
    "/projects/{project:str}/deployments",
    status_code=201,
    tags=["deployments"],
    summary="Deploy a version of a function to the nodes a selector matches",
    description="Without `version`, the newest ready one. Replaces the function's active deployment.",
    responses=refusals(404, 409, 422),
)
async def deploy(
    project: ProjectName, data: JSONBody[DeploymentIn], caller: NamedDependency[str], state: State
) -> Deployed:
    row = await access.project_for(caller, project, WRITE)
    return await state.deployments.deploy(row, data, caller)


@get(
    "/projects/{project:str}/deployments",
    tags=["deployments"],
    summary="List a project's active deployments",
    responses=refusals(404),
)
async def list_deployments(
    project: ProjectName, caller: NamedDependency[str], state: State
) -> DeploymentList:
    row = await access.project_for(caller, project, READ)
    return DeploymentList(await state.deployments.list_deployments(row))


@post(
    "/projects/{project:str}/functions/{name:str}/undeploy",
    status_code=200,
    tags=["deployments"],
    summary="Stop serving a function everywhere",
    responses=refusals(404),
)
async def undeploy(
    project: ProjectName, name: FunctionName, caller: NamedDependency[str], state: State
) -> dict[str, Any]:
    row = await access.project_for(caller, project, WRITE)
    await state.deployments.undeploy(row, name)
    return {"function": name, "undeployed": True}


@post(
    "/projects/{project:str}/functions/{name:str}/rollback",
    status_code=200,
    tags=["deployments"],
    summary="Deploy an earlier version where the current one runs, in one change",
    responses=refusals(404, 409),
)
async def rollback(
    project: ProjectName,
    name: FunctionName,
    data: JSONBody[RollbackIn],
    caller: NamedDependency[str],
    state: State,
) -> dict[str, Any]:
    row = await access.project_for(caller, project, WRITE)
    return await state.deployments.rollback(row, name, data.to_version, caller)


@post(
    "/projects/{project:str}/functions/{name:str}/rollout",
    status_code=200,
    tags=["deployments"],
    summary="Serve several versions of a deployed function, each taking a share of its requests",
    description="Where the function is deployed now, each request goes to one of `shares`' versions, at"
    " random by the shares, or by a hash of its `x-edgefn-version-key` header, the same version for the"
    " same key. A rollout of one version at 100 deploys it; a deploy or a rollback ends a rollout.",
    responses=refusals(404, 409, 422),
)
async def rollout(
    project: ProjectName,
    name: FunctionName,
    data: JSONBody[RolloutIn],
    caller: NamedDependency[str],
    state: State,
) -> dict[str, Any]:
    row = await access.project_for(caller, project, WRITE)
    return await state.deployments.rollout(row, name, data.shares, caller)


@get(
    "/status",
    tags=["status"],
    summary="Functions, deployments and routes of the caller's projects, and every node",
)
async def status(caller: NamedDependency[str], state: State) -> dict[str, Any]:
    """Functions, versions and deployments of the caller's projects, and every node with the states
    of those projects' functions there (another tenant's function ids and errors stay its own)."""
    projects = []
    names = await access.projects_of(caller)
    for name in names:
        row = await access.project_for(caller, name, READ)
        projects.append(
            {
                "project": name,
                "functions": await state.registry.list_functions(row),
                "deployments": await state.deployments.list_deployments(row),
                "routes": await state.deployments.list_routes(row),
            }
        )
    nodes = await state.nodes.list_nodes()
    prefixes = tuple(f"{name}." for name in names)  # function ids are "{project}.{function}"
    for node in nodes:
        node["deployments"] = [d for d in node["deployments"] if d["function_id"].startswith(prefixes)]
    return {"projects": projects, "nodes": nodes}


def developer_router() -> Router:
    return Router(
        path="/v1",
        route_handlers=[
            list_projects,
            add_member,
            create_function,
            list_functions,
            finalize,
            get_version,
            replace_routes,
            list_routes,
            deploy,
            list_deployments,
            undeploy,
            rollback,
            rollout,
            status,
            tail,
        ],
        dependencies={"caller": Provide(provide_caller)},
        security=[{"developer": []}],
    )
