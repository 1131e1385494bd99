"""Request and response bodies of the developer API; msgspec validates them before any handler runs.

The OpenAPI document describes them with msgspec's own JSON Schema (controlplane/openapi.py), so
what it says is what is checked; a struct that forbids unknown fields says `additionalProperties: false`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import Parameter

from edgehost.errors import ApiError
from edgehost.limits import FunctionLimits

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in the database
Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, max_length=63)]
Version = Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]
Entrypoint = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_.$-]{0,127}$")]
HostPattern = Annotated[str, msgspec.Meta(pattern=r"^(\*|(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$")]
Method = Annotated[str, msgspec.Meta(pattern=r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$")]
Role = Annotated[str, msgspec.Meta(pattern=r"^(owner|developer|viewer)$")]
SelectorExpr = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=4096,
        description="A CEL expression over the node's labels; one that does not parse is a 422.",
        examples=["true", "region == 'tokyo'", "region in ['tokyo', 'osaka'] && tier == 'edge'"],
    ),
]
MAX_WAIT_S = 55.0  # the longest a long-poll (`watch`, the tail projects) waits
WaitSeconds = Annotated[
    float, Parameter(description=f"How long to wait, in seconds; clamped to 0..{MAX_WAIT_S:g}.")
]


class FunctionCreate(FunctionLimits, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A new version of a function: entrypoint and limits are required, the hot-pool sizes have
    defaults; `min_hot_instances` above `max_hot_instances` is a 422."""

    # Entrypoint and limits have no defaults on purpose: every registration names them (requirement 1.3).

    name: Name
    entrypoint: Entrypoint

    def __post_init__(self) -> None:
        # Raised while decoding, so the request fails before any project or record exists; a 422, as
        # the body matches its schema (which cannot compare two fields) but contradicts itself.
        if self.min_hot_instances > self.max_hot_instances:
            raise ApiError(422, "invalid_limits", "min_hot_instances must not exceed max_hot_instances")


class FunctionCreated(msgspec.Struct, kw_only=True):
    function_id: str
    version: int
    upload_url: str
    finalize_url: str
    expires_in: int


class VersionInfo(FunctionLimits, kw_only=True, frozen=True):
    function_id: str
    version: int
    state: str
    reason: str
    sha256: str
    size_bytes: int
    entrypoint: str
    denied_imports: list[str]
    artifact_url: str = ""


class FunctionVersions(msgspec.Struct, kw_only=True):
    """A function and every version of it, oldest first."""

    name: str
    function_id: str
    versions: list[VersionInfo]


class FunctionList(msgspec.Struct):
    functions: list[FunctionVersions]


class RouteIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: HostPattern = "*"
    path: Annotated[str, msgspec.Meta(pattern=r"^/", max_length=1024)]
    methods: list[Method] = []
    function: Name
    priority: Annotated[int, msgspec.Meta(ge=-(2**31), le=MAX_VERSION)] = 0


class RoutesPut(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `PUT .../routes`, and the answer of `GET .../routes` (the routes as put)."""

    routes: list[RouteIn]


class DeploymentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    function: Name
    version: Version | None = None
    selector: SelectorExpr = "true"


class Share(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One version's share of a rollout's requests, in whole percents."""

    version: Version
    percent: Annotated[
        int,
        msgspec.Meta(
            ge=-(2**31),
            le=MAX_VERSION,
            description="1..100, and a rollout's percents sum to 100; else a 422 naming the field.",
        ),
    ]


class RolloutIn(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `POST .../rollout`: the versions to serve and their shares (edgehost/rollouts.py)."""

    shares: Annotated[list[Share], msgspec.Meta(max_length=100)]


class ActiveDeployment(msgspec.Struct, kw_only=True):
    """`version` serves every request, or, during a rollout, has the largest of `shares`."""

    function: str
    function_id: str
    version: int
    selector: str
    created_at: str  # ISO 8601
    shares: list[Share] = []


class DeploymentList(msgspec.Struct):
    deployments: list[ActiveDeployment]


class Deployed(msgspec.Struct, kw_only=True):
    """A deployment made: `nodes` are the online nodes its selector matches now (more may join)."""

    function: str
    version: int
    selector: str
    nodes: list[str]


class RollbackIn(msgspec.Struct, forbid_unknown_fields=True):
    to_version: Version


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    role: Role = "developer"
