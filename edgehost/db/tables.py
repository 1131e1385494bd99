"""The control plane's model as Piccolo tables; one schema for SQLite and PostgreSQL.

Every table has Piccolo's implicit `id` Serial primary key. It is not declared here: an explicit
`id` makes Piccolo's auto-migrator propose adding it again on every run, which hides real drift
(tests/foundation/test_storage.py checks that `migrations/` matches these classes exactly).
"""

from __future__ import annotations

import json
from typing import Any

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from edgehost.limits import FunctionLimits


class Project(Table, tablename="edgefn_project"):
    id: Serial  # the implicit primary key, typed for mypy
    name = Varchar(length=63, unique=True, index=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Membership(Table, tablename="edgefn_membership"):
    """A subject's role in a project: owner, developer or viewer."""

    id: Serial  # the implicit primary key, typed for mypy
    project = ForeignKey(references=Project, index=True)
    subject = Varchar(length=255, index=True)
    role = Varchar(length=16, default="developer")


class Function(Table, tablename="edgefn_function"):
    id: Serial  # the implicit primary key, typed for mypy
    project = ForeignKey(references=Project, index=True)
    name = Varchar(length=63)
    function_id = Varchar(length=128, unique=True, index=True)
    latest_version = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())


class FunctionVersion(Table, tablename="edgefn_function_version"):
    """One uploaded module and its limits; versions are immutable once ready."""

    id: Serial  # the implicit primary key, typed for mypy
    function = ForeignKey(references=Function, index=True)
    version = Integer()
    state = Varchar(length=16, default="pending")  # pending | ready | rejected
    reason = Text(default="")
    entrypoint = Varchar(length=128, default="handle")
    memory_pages = Integer(default=16)
    max_execution_ms = Integer(default=50)
    min_hot_instances = Integer(default=1)
    max_hot_instances = Integer(default=16)
    fresh_instance = Boolean(default=False)  # each instance serves one request
    http_allow = JSON(default=[])
    env = JSON(default={})  # the guest's environment: name -> value
    kv = JSON(default=[])  # names of the project's KV stores it may use
    secrets = JSON(default=[])  # names of the secrets in its environment (their values: Secret)
    artifact_key = Varchar(length=255)
    sha256 = Varchar(length=64, default="")
    size_bytes = BigInt(default=0)
    denied_imports = JSON(default=[])
    created_at = Timestamptz(default=TimestamptzNow())


class Route(Table, tablename="edgefn_route"):
    id: Serial  # the implicit primary key, typed for mypy
    project = ForeignKey(references=Project, index=True)
    function = ForeignKey(references=Function)
    host = Varchar(length=255, default="*", index=True)
    path = Varchar(length=1024)
    methods = JSON(default=[])
    priority = Integer(default=0)


class Deployment(Table, tablename="edgefn_deployment"):
    """The version a function should run where its selector matches; one active row per function."""

    id: Serial  # the implicit primary key, typed for mypy
    function = ForeignKey(references=Function, index=True)
    version = Integer()
    selector = Text(default="true")
    # A rollout's [[version, percent], ...] (edgehost/rollouts.py), `version` the largest share;
    # empty when `version` alone is served.
    shares = JSON(default=[])
    active = Boolean(default=True, index=True)
    created_by = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class Secret(Table, tablename="edgefn_secret"):
    """A secret's value as set with `edgefn secret set`, sealed (edgehost/secrets_crypto.py) under the
    control plane's key with `{project}/{function}/{name}` as associated data; the function need not
    exist yet, so secrets can be set before the first deployment."""

    id: Serial  # the implicit primary key, typed for mypy
    project = ForeignKey(references=Project, index=True)
    function = Varchar(length=63)
    name = Varchar(length=255)
    sealed = Text()
    set_at = Timestamptz(default=TimestamptzNow())


class DeploymentSecret(Table, tablename="edgefn_deployment_secret"):
    """The sealed value a deployment took of each secret its version names, copied when it was made:
    changing a secret takes effect on the function's next deployment, never under a running one."""

    id: Serial  # the implicit primary key, typed for mypy
    deployment = ForeignKey(references=Deployment, index=True)
    name = Varchar(length=255)
    sealed = Text()


class Node(Table, tablename="edgefn_node"):
    id: Serial  # the implicit primary key, typed for mypy
    node_id = Varchar(length=63, unique=True, index=True)
    labels = JSON(default={})
    status = Varchar(length=16, default="online")  # online | offline: liveness, from heartbeats
    last_heartbeat = Timestamptz(default=TimestamptzNow())
    cpu_percent = Float(default=0.0)
    mem_bytes = BigInt(default=0)  # a runner's RSS passes 2 GiB; PostgreSQL integer would overflow
    inventory = JSON(default=[])
    # Where its ingress and /metrics are reached, as the node reports them ("" from older runners).
    public_url = Varchar(length=2048, default="")
    metrics_url = Varchar(length=2048, default="")
    # An operator's `edgefn drain`: kept across restarts and offline spells until `edgefn undrain`.
    draining = Boolean(default=False)


class NodeDeployment(Table, tablename="edgefn_node_deployment"):
    """What one node reported for one function version: cached, or the error it hit."""

    id: Serial  # the implicit primary key, typed for mypy
    node_id = Varchar(length=63, index=True)
    function_id = Varchar(length=128, index=True)
    version = Integer()
    state = Varchar(length=16, default="pending")
    error = Text(default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class ErrorReport(Table, tablename="edgefn_error_report"):
    id: Serial  # the implicit primary key, typed for mypy
    node_id = Varchar(length=63, index=True)
    function_id = Varchar(length=128, index=True)
    version = Integer()
    message = Text()
    context = JSON(default={})
    reported_at = Timestamptz(default=TimestamptzNow())


class Usage(Table, tablename="edgefn_usage"):
    """Guest CPU seconds per tenant per UTC day, summed over every node."""

    id: Serial  # the implicit primary key, typed for mypy
    project = Varchar(length=63, index=True)
    day = Date()
    cpu_seconds = Float(default=0.0)


class Revision(Table, tablename="edgefn_revision"):
    """A single counter bumped on every change to desired state, so watchers know when to look."""

    id: Serial  # the implicit primary key, typed for mypy
    value = Integer(default=0)


TABLES: tuple[type[Table], ...] = (
    Project,
    Membership,
    Function,
    FunctionVersion,
    Route,
    Deployment,
    Secret,
    DeploymentSecret,
    Node,
    NodeDeployment,
    ErrorReport,
    Usage,
    Revision,
)


def json_list(value: Any) -> list[Any]:
    """JSON columns read through `objects()` come back as text; selects use `output(load_json=True)`."""
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


def json_dict(value: Any) -> dict[str, Any]:
    """A JSON object column, read either way (see json_list)."""
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


def version_limits(row: FunctionVersion | dict[str, Any]) -> dict[str, Any]:
    """The `FunctionLimits` fields of a function version row, an object or a selected dict."""
    values = row.to_dict() if isinstance(row, FunctionVersion) else row
    limits = {name: values[name] for name in FunctionLimits.__struct_fields__}
    return {
        **limits,
        "http_allow": tuple(json_list(limits["http_allow"])),
        "kv": tuple(json_list(limits["kv"])),
        "secrets": tuple(json_list(limits["secrets"])),
        "env": json_dict(limits["env"]),
    }
