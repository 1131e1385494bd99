"""Secrets (docs/secrets.md): values set per project and function, sealed at rest, copied into each
deployment when it is made, and opened only into the desired states sent on the node channel.

A value is stored sealed under the control plane's key (`secrets.key` or `secrets.key_file`) with
`{project}/{function}/{name}` as associated data. Nothing here returns, logs or raises a value: the
API answers names and times, errors name the secret.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from edgehost.db.tables import DeploymentSecret, FunctionVersion, Project, Secret, json_list
from edgehost.errors import ApiError
from edgehost.secrets_crypto import Sealer, SealError

log = logging.getLogger("edgefn.secrets")

MAX_SECRET_VALUE = 32768  # characters, as an `env` value: both end up in the guest's environ


def place(project: str, function: str, name: str) -> str:
    """The associated data of a sealed value: the secret it belongs to."""
    return f"{project}/{function}/{name}"


def check_value(raw: bytes) -> str:
    """The value of a request body: UTF-8 text without NUL (environ entries end in one), not empty
    (a missing body is no value), at most MAX_SECRET_VALUE characters; 422 naming the rule otherwise
    (never echoing the value)."""
    if not raw:
        raise ApiError(
            422, "bad_secret", "a secret value must not be empty; `edgefn secret delete` removes a secret"
        )
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "bad_secret", "a secret value must be UTF-8 text") from None
    if "\0" in value:
        raise ApiError(422, "bad_secret", "a secret value must not contain a NUL character")
    if len(value) > MAX_SECRET_VALUE:
        raise ApiError(
            422,
            "bad_secret",
            f"a secret value must be at most {MAX_SECRET_VALUE} characters, got {len(value)}",
        )
    return value


class SecretStore:
    """The `edgefn_secret` rows of every project, sealed with one key."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    async def put(self, project: dict[str, Any], function: str, name: str, value: str) -> str:
        """Stores `value` sealed (replacing any earlier one); returns when it was set (ISO 8601)."""
        sealed = self._sealer.seal(value, place(project["name"], function, name))
        where = (Secret.project == project["id"]) & (Secret.function == function) & (Secret.name == name)
        async with Secret._meta.db.transaction():
            await Secret.delete().where(where)
            row = Secret(project=project["id"], function=function, name=name, sealed=sealed)
            await row.save()
        return str(row.set_at.isoformat())

    async def names(self, project: dict[str, Any], function: str) -> list[dict[str, str]]:
        """Names and set times of `function`'s secrets, by name; never their values."""
        rows = (
            await Secret.select(Secret.name, Secret.set_at)
            .where((Secret.project == project["id"]) & (Secret.function == function))
            .order_by(Secret.name)
        )
        return [{"name": r["name"], "set_at": r["set_at"].isoformat()} for r in rows]

    async def remove(self, project: dict[str, Any], function: str, name: str) -> None:
        """Deletes the secret (deployments already made keep their copy); 404 when it is not set."""
        where = (Secret.project == project["id"]) & (Secret.function == function) & (Secret.name == name)
        if not await Secret.exists().where(where):
            raise ApiError(404, "not_found", f"function {function!r} has no secret {name!r}")
        await Secret.delete().where(where)

    async def take(
        self, project: dict[str, Any], function: str, names: tuple[str, ...], deployment: int
    ) -> None:
        """Copies the sealed values of `names` into `deployment` (inside the caller's transaction);
        409 naming every secret that is not set, so nothing is deployed without its secrets."""
        if not names:
            return
        rows = await Secret.select(Secret.name, Secret.sealed).where(
            (Secret.project == project["id"]) & (Secret.function == function) & Secret.name.is_in(list(names))
        )
        found = {r["name"]: r["sealed"] for r in rows}
        missing = [name for name in names if name not in found]
        if missing:
            listed = ", ".join(missing)
            raise ApiError(
                409,
                "secret_not_set",
                f"function {function!r} names secrets that are not set: {listed}; "
                f"set them with `edgefn secret set {function} NAME` and deploy again",
            )
        await DeploymentSecret.insert(
            *(DeploymentSecret(deployment=deployment, name=name, sealed=found[name]) for name in names)
        )

    async def changed(self, project: dict[str, Any]) -> set[int]:
        """Active deployments of `project` whose copy of a secret differs from what is set now (set
        again or deleted since): `edgefn deploy` makes them again."""
        taken = await DeploymentSecret.select(
            DeploymentSecret.deployment,
            DeploymentSecret.name,
            DeploymentSecret.sealed,
            DeploymentSecret.deployment.function.name,  # type: ignore[union-attr]
        ).where(
            (DeploymentSecret.deployment.function.project == project["id"])  # type: ignore[union-attr]
            & (DeploymentSecret.deployment.active == True)  # noqa: E712
        )
        if not taken:
            return set()
        now = await Secret.select(Secret.function, Secret.name, Secret.sealed).where(
            Secret.project == project["id"]
        )
        current = {(r["function"], r["name"]): r["sealed"] for r in now}
        return {
            r["deployment"]
            for r in taken
            if current.get((r["deployment.function.name"], r["name"])) != r["sealed"]
        }

    async def values(self, deployments: dict[int, tuple[str, str]]) -> dict[int, dict[str, str]]:
        """The opened values each deployment took, by deployment id; `deployments` maps the ids to
        (project, function). A value that does not open (the key changed) is left out and logged
        by name, so the function runs without it rather than a whole desired state failing."""
        if not deployments:
            return {}
        rows = await DeploymentSecret.select(
            DeploymentSecret.deployment, DeploymentSecret.name, DeploymentSecret.sealed
        ).where(DeploymentSecret.deployment.is_in(list(deployments)))
        out: dict[int, dict[str, str]] = {}
        for r in rows:
            project, function = deployments[r["deployment"]]
            try:
                value = self._sealer.open(r["sealed"], place(project, function, r["name"]))
            except SealError:
                log.error(
                    "secret %s of %s/%s does not open with this control plane's key (secrets.key)",
                    r["name"],
                    project,
                    function,
                )
                continue
            out.setdefault(r["deployment"], {})[r["name"]] = value
        return out


async def take_secrets(
    store: SecretStore | None, fn: dict[str, Any], versions: Sequence[int], deployment: int
) -> None:
    """A new deployment's copy of the secrets its `versions` of function row `fn` name (more than one
    in a rollout), made inside the activation's transaction; 409 when one is not set (or this
    control plane keeps no secrets)."""
    rows = await FunctionVersion.select(FunctionVersion.secrets).where(
        (FunctionVersion.function == fn["id"]) & FunctionVersion.version.is_in(list(versions))
    )
    # The copies of the deployments this one replaces go: they run nowhere, and a later deployment
    # or rollback takes the values set then, never an old copy.
    await DeploymentSecret.raw(
        "DELETE FROM edgefn_deployment_secret WHERE deployment IN "
        "(SELECT id FROM edgefn_deployment WHERE function = {} AND active = {})",
        fn["id"],
        False,
    )
    names = tuple(sorted({name for row in rows for name in json_list(row["secrets"])}))
    if not names:
        return
    if store is None:
        raise ApiError(409, "secret_not_set", f"this control plane keeps no secrets for {fn['name']!r}")
    project = await Project.select(Project.id, Project.name).where(Project.id == fn["project"]).first()
    assert project is not None  # the function row refers to it
    await store.take(project, fn["name"], names, deployment)
