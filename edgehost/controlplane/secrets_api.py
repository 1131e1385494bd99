"""`edgefn secret`'s routes: `/v1/projects/{project}/functions/{name}/secrets[/{secret}]` (docs/secrets.md).

Setting and deleting need a role that may change the project (the first setter of a new project's
secret becomes its owner, as with a first function); listing one that may read it. The value travels
only in the set request's body (`text/plain`, UTF-8); no answer, error or log line carries one.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, delete, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter

from edgehost.controlplane import access
from edgehost.controlplane.access import READ, WRITE
from edgehost.controlplane.api import FunctionName, ProjectName, provide_caller
from edgehost.controlplane.openapi import refusals
from edgehost.controlplane.secrets import MAX_SECRET_VALUE, SecretStore, check_value
from edgehost.errors import ApiError
from edgehost.limits import ENV_PATTERN

SecretName = Annotated[
    str,
    Parameter(pattern=ENV_PATTERN, max_length=255, description="A name from the function's `secrets` list."),
]


def _store(state: State) -> SecretStore:
    return state.ctx.services.require(SecretStore)


@put(
    "/projects/{project:str}/functions/{name:str}/secrets/{secret:str}",
    status_code=200,
    tags=["secrets"],
    summary="Set a secret of a function (the raw request body, UTF-8); its next deployment takes it",
    responses=refusals(413, 422),
    opt={"raw_body": "text/plain"},
)
async def set_secret(
    project: ProjectName,
    name: FunctionName,
    secret: SecretName,
    request: Request[Any, Any, Any],
    caller: NamedDependency[str],
    state: State,
) -> dict[str, Any]:
    row = await access.project_for(caller, project, WRITE, create=True)
    raw = await request.body()
    if len(raw) > 4 * MAX_SECRET_VALUE:  # UTF-8 spends at most 4 bytes a character
        raise ApiError(
            413, "payload_too_large", f"a secret value must be at most {MAX_SECRET_VALUE} characters"
        )
    set_at = await _store(state).put(row, name, secret, check_value(raw))
    return {"function": name, "name": secret, "set_at": set_at}


@get(
    "/projects/{project:str}/functions/{name:str}/secrets",
    tags=["secrets"],
    summary="List a function's secrets: names and when each was set, never values",
    responses=refusals(404),
)
async def list_secrets(
    project: ProjectName, name: FunctionName, caller: NamedDependency[str], state: State
) -> dict[str, Any]:
    row = await access.project_for(caller, project, READ)
    return {"function": name, "secrets": await _store(state).names(row, name)}


@delete(
    "/projects/{project:str}/functions/{name:str}/secrets/{secret:str}",
    status_code=200,
    tags=["secrets"],
    summary="Delete a secret of a function; deployments already made keep the value they took",
    responses=refusals(404),
)
async def delete_secret(
    project: ProjectName, name: FunctionName, secret: SecretName, caller: NamedDependency[str], state: State
) -> dict[str, Any]:
    row = await access.project_for(caller, project, WRITE)
    await _store(state).remove(row, name, secret)
    return {"function": name, "name": secret, "deleted": True}


def secrets_router() -> Router:
    return Router(
        path="/v1",
        route_handlers=[set_secret, list_secrets, delete_secret],
        dependencies={"caller": Provide(provide_caller)},
        security=[{"developer": []}],
    )
