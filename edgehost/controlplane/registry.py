"""Function registration: versions, upload URLs, and finalisation (hash, check, then ready).

A version's bytes are immutable once it is ready, whatever its upload URL still allows. The URL
writes an upload key, `uploads/{function_id}/{version}.wasm`, that nothing serves; finalize reads
it once, hashes and checks those bytes, and writes the same bytes to a key named by their SHA-256,
`{function_id}/{version}/{sha256}.wasm`, which no upload URL can reach. The version becomes ready
in one conditional update, so of two racing finalizes one wins and the other answers what it
recorded. Runners download only that key: exactly the bytes whose SHA-256 is on the record.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Any

from piccolo.columns import Column

from edgehost.contracts import ArtifactStore
from edgehost.controlplane.schemas import FunctionCreate, FunctionCreated, FunctionVersions, VersionInfo
from edgehost.db.tables import Function, FunctionVersion, json_list, version_limits
from edgehost.errors import ApiError
from edgehost.limits import limits_of
from edgehost.project_queue import ProjectQueue
from edgehost.runtime import FunctionSpec, HostFunction, ValidationError, validate_module

log = logging.getLogger("edgefn.registry")
_UPLOAD_KEY = re.compile(r"^uploads/(?P<function_id>[a-z0-9.-]+)/(?P<version>[0-9]{1,10})\.wasm$")


def function_id_of(project: str, name: str) -> str:
    return f"{project}.{name}"


def upload_key(function_id: str, version: int) -> str:
    """Where a version's upload URL writes; read by finalize only, never served."""
    return f"uploads/{function_id}/{version}.wasm"


def artifact_key(function_id: str, version: int, sha256: str) -> str:
    """Where a ready version's bytes live: written once, by finalize, named by their digest."""
    return f"{function_id}/{version}/{sha256}.wasm"


class Registry:
    def __init__(
        self,
        store: ArtifactStore,
        *,
        host_functions: Sequence[HostFunction],
        url_ttl_s: int,
        max_upload_bytes: int,
        checks: ProjectQueue,
    ) -> None:
        self.store = store
        self.checks = checks
        self.host_functions = tuple(host_functions)
        self.url_ttl_s = url_ttl_s
        self.max_upload_bytes = max_upload_bytes

    async def create_version(self, project: dict[str, Any], spec: FunctionCreate) -> FunctionCreated:
        """A new version record for `spec` (creating the function on first use) and its upload URL."""
        fid = function_id_of(project["name"], spec.name)
        await Function.insert(
            Function(project=project["id"], name=spec.name, function_id=fid, latest_version=0)
        ).on_conflict(target=Function.function_id, action="DO NOTHING")
        async with Function._meta.db.transaction():
            fn = await Function.objects().where(Function.function_id == fid).first()
            assert fn is not None  # inserted above, by this request or a concurrent one
            rows = await Function.raw(
                "UPDATE edgefn_function SET latest_version = latest_version + 1 WHERE id = {} "
                "RETURNING latest_version",
                fn.id,
            )
            version = int(rows[0]["latest_version"])
            await FunctionVersion(
                function=fn.id,
                version=version,
                state="pending",
                entrypoint=spec.entrypoint,
                artifact_key="",
                **limits_of(spec),
            ).save()
        return FunctionCreated(
            function_id=fid,
            version=version,
            upload_url=await self.store.upload_url(upload_key(fid, version), ttl_s=self.url_ttl_s),
            finalize_url=f"/v1/projects/{project['name']}/functions/{spec.name}/versions/{version}/finalize",
            expires_in=self.url_ttl_s,
        )

    async def version_row(self, project: dict[str, Any], name: str, version: int) -> FunctionVersion:
        return await self._row_by_id(function_id_of(project["name"], name), version)

    async def finalize(self, project: dict[str, Any], name: str, version: int) -> VersionInfo:
        """Reads the uploaded bytes, records their SHA-256, checks them (`validate_module`: what a
        runner would refuse), and makes them ready; a ready version answers as it is, unread."""
        row = await self.version_row(project, name, version)
        fid = function_id_of(project["name"], name)
        if row.state == "ready":
            return await self.info(row, function_id=fid)
        # Presigned S3 uploads cannot be size-limited, so the limit is enforced here, reading one byte more.
        data = await self.store.read(upload_key(fid, version), max_bytes=self.max_upload_bytes)
        if data is None:
            raise ApiError(409, "not_uploaded", f"nothing was uploaded for {name} v{version} yet")
        if len(data) > self.max_upload_bytes:
            raise ApiError(
                413,
                "payload_too_large",
                f"the uploaded module exceeds api.max_upload_bytes ({self.max_upload_bytes} bytes); "
                "upload a smaller one to the same URL and finalize again",
            )
        digest = hashlib.sha256(data).hexdigest()
        spec = FunctionSpec(fid, version, row.entrypoint, **version_limits(row))
        try:
            report = await self.checks.run(
                project["name"], validate_module, data, spec, host_functions=self.host_functions
            )
        except ValidationError as exc:
            await self._settle(row, state="rejected", reason=exc.message, sha256=digest, size_bytes=len(data))
            raise ApiError(422, "invalid_module", exc.message) from None
        key = artifact_key(fid, version, digest)
        await self.store.write(key, data)
        won = await self._settle(
            row,
            state="ready",
            reason="",
            sha256=digest,
            size_bytes=len(data),
            artifact_key=key,
            denied_imports=list(report.denied_wasi_imports),
        )
        row = await self.version_row(project, name, version)
        if won:
            await self._discard(upload_key(fid, version))
        elif row.artifact_key != key:  # a concurrent finalize recorded other bytes first
            await self._discard(key)
        return await self.info(row, function_id=fid)

    async def _settle(self, row: FunctionVersion, **values: Any) -> bool:
        """Writes `values` unless the version became ready meanwhile; whether it wrote them."""
        changes: dict[Column | str, Any] = {name: value for name, value in values.items()}
        written = (
            await FunctionVersion.update(changes)
            .where((FunctionVersion.id == row.id) & (FunctionVersion.state != "ready"))
            .returning(FunctionVersion.id)
        )
        return bool(written)

    async def _discard(self, key: str) -> None:
        """Deletes an object nothing will read again; a failure only leaves it behind."""
        try:
            await self.store.delete(key)
        except Exception:
            log.warning("could not delete artifact %s from the store", key, exc_info=True)

    async def accept_upload(self, key: str, data: bytes) -> None:
        """Stores a PUT through an upload URL the CP signed itself (the `local` store).

        Refused with 409 once the version is ready, since its bytes are immutable; also when it
        became ready with other bytes while this upload was being written (those were not used).
        Raises ApiError 403 for a key that is not an upload key, 404 for an unknown version.
        """
        match = _UPLOAD_KEY.match(key)
        if match is None:
            raise ApiError(
                403, "forbidden", f"{key!r} is not an upload key; finalized artifacts are immutable"
            )
        fid, version = match["function_id"], int(match["version"])
        row = await self._row_by_id(fid, version)
        if row.state == "ready":
            raise _immutable(row, fid)
        await self.store.write(key, data)
        row = await self._row_by_id(fid, version)
        if row.state == "ready":  # finalized meanwhile, and its upload key discarded: so is this one
            await self._discard(key)
            if row.sha256 != hashlib.sha256(data).hexdigest():
                raise _immutable(row, fid)

    async def _row_by_id(self, fid: str, version: int) -> FunctionVersion:
        row = (
            await FunctionVersion.objects()
            .where((FunctionVersion.function.function_id == fid) & (FunctionVersion.version == version))
            .first()
        )
        if row is None:
            raise ApiError(404, "not_found", f"function {fid} has no version {version}")
        return row

    async def info(self, row: FunctionVersion, *, function_id: str | None = None) -> VersionInfo:
        if function_id is None:
            fn = await Function.select(Function.function_id).where(Function.id == row.function).first()
            function_id = fn["function_id"] if fn else ""
        return VersionInfo(
            function_id=function_id,
            version=row.version,
            state=row.state,
            reason=row.reason,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            entrypoint=row.entrypoint,
            **version_limits(row),
            denied_imports=list(json_list(row.denied_imports)),
        )

    async def list_functions(self, project: dict[str, Any]) -> list[FunctionVersions]:
        functions = await Function.select().where(Function.project == project["id"]).order_by(Function.name)
        out = []
        for fn in functions:
            versions = (
                await FunctionVersion.objects()
                .where(FunctionVersion.function == fn["id"])
                .order_by(FunctionVersion.version)
            )
            out.append(
                FunctionVersions(
                    name=fn["name"],
                    function_id=fn["function_id"],
                    versions=[await self.info(v, function_id=fn["function_id"]) for v in versions],
                )
            )
        return out


def _immutable(row: FunctionVersion, fid: str) -> ApiError:
    return ApiError(
        409,
        "version_immutable",
        f"{fid} v{row.version} is finalized (sha256:{row.sha256[:12]}) and its artifact cannot change; "
        "register a new version for new code",
    )
