"""The control plane's OpenAPI document (`/schema/openapi.json`): the contract generated clients trust.

Litestar generates it from the routes; `contract` then makes it say exactly what the server does:

- Request and response bodies are described by msgspec, the library that decodes them: item patterns
  of lists, bounds of optional fields and `additionalProperties: false` where a struct forbids
  unknown fields, which Litestar's own schemas leave out or approximate.
- Every error response is the one `ErrorResponse` component (edgehost/errors.py renders every error
  body). Each operation declares the statuses its shape implies: 400 if it takes parameters or a
  body, 413 if it takes a body, 401 and 403 if it needs a credential, 500 always; plus those its
  handler declares with `refusals(...)` (404, 409, 422: what its own code refuses).
- 204 answers have no content (RFC 9110 section 15.3.5).

Operation ids are the handlers' names and tags group them by resource, which become a generated
client's function and module names (docs/cli.md, "Generating a client").
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from edgehost import __version__
from edgehost.errors import ErrorResponse

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}

# What each error status means on this API; the handlers' `refusals(...)` and the derived ones use it.
MEANING = {
    400: "The request does not match this document: a malformed or unknown parameter or body field, "
    "a value of the wrong type or out of range, duplicate keys in a JSON object, malformed JSON.",
    401: "No credential, or one that is invalid or expired.",
    403: "The credential is valid but may not do this.",
    404: "The project, function, version, node or KV key named in the path or query does not exist.",
    409: "The request conflicts with the current state: retry after the state changes.",
    413: "The body, or the uploaded module, is larger than this control plane accepts.",
    422: "The request matches this document but breaks a rule it cannot express: "
    "a selector that does not parse (also in a query), limits that contradict each other, a reference "
    "to a function that does not exist, a module that fails validation, rollout shares that do not "
    "sum to 100 or name a version twice or one that is not ready.",
    500: "The server hit an unexpected error; it was logged, the body never carries a stack trace.",
    503: "A service behind this operation (the KV store) did not answer in time; retry later.",
    507: "The project's KV stores hold kv.max_project_bytes already; delete keys first.",
}

DESCRIPTION = """\
The edgefn control plane: projects, functions and their versions, routes and deployments for
developers (a bearer token, `developer`), and the node protocol (`/v1/node/*`, a per-request node
token, `node`).

Every error answers `ErrorResponse`: `{"error": code, "detail": message or field errors}`.
A method a path does not list is answered 405 with `Allow` (RFC 9110 section 15.5.6).

Request bodies are JSON decoded strictly, as this document types them: a number sent as a string
(`"16"` for an integer) is a 400, so is a field a schema does not list
(`additionalProperties: false`) and a key repeated within one object (RFC 8259 section 4,
RFC 7493 section 2.3), which JSON Schema cannot express. 400 means the request does not match
this document; 422 means it does, but breaks a rule the document cannot express.
"""

TAGS = [
    Tag(name="projects", description="Projects and who may use them"),
    Tag(name="functions", description="Functions, their versions and uploads"),
    Tag(name="routes", description="Which host and path reach which function"),
    Tag(name="deployments", description="Which version runs where"),
    Tag(name="kv", description="A project's key-value stores, as its functions see them"),
    Tag(name="status", description="What runs where, and live invocation logs"),
    Tag(name="nodes", description="The node protocol: heartbeats, desired state, reports"),
    Tag(name="operator", description="The online-node feed and drains (the operator role)"),
    Tag(name="health", description="Liveness"),
]

SECURITY_SCHEMES = {
    "developer": SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="A developer token (`edgefn token`, or the one `edgefn dev` writes).",
    ),
    "node": SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWS",
        description="A fresh ES256 token per request, signed by the node's key, its certificate in `x5c`.",
    ),
}


def refusals(*statuses: int) -> dict[int, ResponseSpec]:
    """The error responses a handler's own code answers, for its `responses=`: `ErrorResponse` each."""
    return {
        status: ResponseSpec(ErrorResponse, description=MEANING[status], generate_examples=False)
        for status in statuses
    }


def operation_id(handler: Any, method: Any, path_components: Any) -> str:
    """The handler's name: unique across the API (checked by Litestar) and a readable function name."""
    return str(handler.handler_name)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="edgefn control plane",
        version=__version__,
        description=DESCRIPTION,
        path="/schema",
        render_plugins=[ContractJson()],
        operation_id_creator=operation_id,
        components=Components(security_schemes=dict(SECURITY_SCHEMES)),
        tags=TAGS,
    )


class ContractJson(JsonRenderPlugin):
    """`/schema/openapi.json`: Litestar's document through `contract`, built once."""

    def __init__(self) -> None:
        super().__init__()
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = self.render_json(request, contract(request.app, openapi_schema))
        return self._rendered


def contract(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    """`generated` (Litestar's document of `app`, left unchanged) with msgspec's body schemas and
    the error responses described in the module docstring."""
    document = copy.deepcopy(generated)
    _, schemas = msgspec.json.schema_components(
        sorted(_structs(app), key=lambda t: t.__name__), ref_template="#/components/schemas/{name}"
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _declare_errors(operation)
    return document


def _declare_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    implied = {500}
    if operation.get("parameters") or operation.get("requestBody"):
        implied.add(400)
    if operation.get("requestBody"):
        implied.add(413)
    if operation.get("security"):
        implied.update((401, 403))
    for implied_status in implied:
        responses.setdefault(str(implied_status), {})
    for status, response in list(responses.items()):
        code = int(status)
        if code >= 400:
            responses[status] = {
                "description": MEANING.get(code, response.get("description", "")),
                "content": {"application/json": {"schema": ERROR_REF}},
            }
        elif code == 204:
            response.pop("content", None)
    operation["responses"] = dict(sorted(responses.items()))


def _structs(app: Litestar) -> set[type[msgspec.Struct]]:
    """Every msgspec struct a documented handler takes or answers (the ones they contain come along)."""
    found: set[type[msgspec.Struct]] = {ErrorResponse}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            fields = [handler.parsed_fn_signature.return_type]
            if handler.parsed_data_field is not None:
                fields.append(handler.parsed_data_field)
            specs = (handler.responses or {}).values()
            fields += [FieldDefinition.from_annotation(spec.data_container) for spec in specs]
            found.update(t for field in fields for t in _struct_types(field))
    return found


def _struct_types(field: FieldDefinition) -> Iterator[type[msgspec.Struct]]:
    if isinstance(field.annotation, type) and issubclass(field.annotation, msgspec.Struct):
        yield field.annotation
    for inner in field.inner_types:
        yield from _struct_types(inner)
