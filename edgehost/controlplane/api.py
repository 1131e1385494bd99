"""The developer API under `/v1`: projects, functions, routes, deployments, rollback, status."""

from __future__ import annotations

import inspect
from typing import Any

from litestar import Request, Router, get, post, put
from litestar.datastructures import State
from litestar.di import Provide

from edgehost.controlplane import access
from edgehost.controlplane.access import ADMIN, READ, WRITE
from edgehost.controlplane.schemas import (
    DeploymentIn,
    FunctionCreate,
    FunctionCreated,
    MemberIn,
    RollbackIn,
    RoutesPut,
    VersionInfo,
)
from edgehost.errors import ApiError


def bearer(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send a developer token as 'Authorization: Bearer <token>'")
    return token.strip()


async def provide_subject(request: Request[Any, Any, Any], state: State) -> str:
    """The authenticated developer; every `/v1` call except artifact transfer needs one."""
    ctx = state.ctx
    try:
        subject = ctx.hook.edgehost_authenticate_developer(token=bearer(request), ctx=ctx)
        if inspect.isawaitable(subject):
            subject = await subject
    except ApiError:
        raise
    except Exception as exc:  # AuthError and friends: never leak details beyond the sentence
        raise ApiError(401, "unauthorized", getattr(exc, "message", None) or str(exc)) from None
    if not subject:
        raise ApiError(401, "unauthorized", "no authentication plugin accepted the token")
    return str(subject)


@get("/projects")
async def list_projects(subject: str) -> dict[str, Any]:
    return {"projects": await access.projects_of(subject)}


@post("/projects/{project:str}/members", status_code=200)
async def add_member(project: str, data: MemberIn, subject: str) -> dict[str, Any]:
    row = await access.project_for(subject, project, ADMIN)
    await access.add_member(row["id"], data.subject, data.role)
    return {"project": project, "subject": data.subject, "role": data.role}


@post("/projects/{project:str}/functions", status_code=201)
async def create_function(project: str, data: FunctionCreate, subject: str, state: State) -> FunctionCreated:
    row = await access.project_for(subject, project, WRITE, create=True)
    return await state.registry.create_version(row, data)


@get("/projects/{project:str}/functions")
async def list_functions(project: str, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, READ)
    return {"functions": await state.registry.list_functions(row)}


@post("/projects/{project:str}/functions/{name:str}/versions/{version:int}/finalize", status_code=200)
async def finalize(project: str, name: str, version: int, subject: str, state: State) -> VersionInfo:
    row = await access.project_for(subject, project, WRITE)
    return await state.registry.finalize(row, name, version)


@get("/projects/{project:str}/functions/{name:str}/versions/{version:int}")
async def get_version(project: str, name: str, version: int, subject: str, state: State) -> VersionInfo:
    row = await access.project_for(subject, project, READ)
    return await state.registry.info(await state.registry.version_row(row, name, version))


@put("/projects/{project:str}/routes", status_code=200)
async def replace_routes(project: str, data: RoutesPut, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, WRITE, create=True)
    count = await state.deployments.replace_routes(row, data.routes)
    return {"routes": count}


@get("/projects/{project:str}/routes")
async def list_routes(project: str, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, READ)
    return {"routes": await state.deployments.list_routes(row)}


@post("/projects/{project:str}/deployments", status_code=201)
async def deploy(project: str, data: DeploymentIn, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, WRITE)
    return await state.deployments.deploy(row, data, subject)


@get("/projects/{project:str}/deployments")
async def list_deployments(project: str, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, READ)
    return {"deployments": await state.deployments.list_deployments(row)}


@post("/projects/{project:str}/functions/{name:str}/undeploy", status_code=200)
async def undeploy(project: str, name: str, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, WRITE)
    await state.deployments.undeploy(row, name)
    return {"function": name, "undeployed": True}


@post("/projects/{project:str}/functions/{name:str}/rollback", status_code=200)
async def rollback(project: str, name: str, data: RollbackIn, subject: str, state: State) -> dict[str, Any]:
    row = await access.project_for(subject, project, WRITE)
    return await state.deployments.rollback(row, name, data.to_version, subject)


@get("/status")
async def status(subject: str, state: State) -> dict[str, Any]:
    """Functions, versions and deployments of the caller's projects, and every node with its states."""
    projects = []
    for name in await access.projects_of(subject):
        row = await access.project_for(subject, name, READ)
        projects.append(
            {
                "project": name,
                "functions": await state.registry.list_functions(row),
                "deployments": await state.deployments.list_deployments(row),
                "routes": await state.deployments.list_routes(row),
            }
        )
    return {"projects": projects, "nodes": await state.nodes.list_nodes()}


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
            status,
        ],
        dependencies={"subject": Provide(provide_subject)},
        tags=["developer"],
    )
