"""Function registration: versions, presigned uploads, and finalisation (hash, then validate, then ready).

Validation is `validate_module` with the host functions the runners link: `ready` means a runner links
and instantiates the module.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from edgehost.contracts import ArtifactStore
from edgehost.controlplane.schemas import FunctionCreate, FunctionCreated, VersionInfo
from edgehost.db.tables import Function, FunctionVersion, json_list
from edgehost.errors import ApiError
from edgehost.runtime import FunctionSpec, HostFunction, ValidationError, validate_module


def function_id_of(project: str, name: str) -> str:
    return f"{project}.{name}"


def artifact_key(function_id: str, version: int) -> str:
    return f"{function_id}/{version}.wasm"


class Registry:
    def __init__(
        self,
        store: ArtifactStore,
        *,
        host_functions: Sequence[HostFunction],
        url_ttl_s: int,
        max_upload_bytes: int,
    ) -> None:
        self.store = store
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
                memory_pages=spec.memory_pages,
                max_execution_ms=spec.max_execution_ms,
                min_hot_instances=spec.min_hot_instances,
                max_hot_instances=spec.max_hot_instances,
                http_allow=list(spec.http_allow),
                artifact_key=artifact_key(fid, version),
            ).save()
        return FunctionCreated(
            function_id=fid,
            version=version,
            upload_url=await self.store.upload_url(artifact_key(fid, version), ttl_s=self.url_ttl_s),
            finalize_url=f"/v1/projects/{project['name']}/functions/{spec.name}/versions/{version}/finalize",
            expires_in=self.url_ttl_s,
        )

    async def version_row(self, project: dict[str, Any], name: str, version: int) -> FunctionVersion:
        fid = function_id_of(project["name"], name)
        row = (
            await FunctionVersion.objects()
            .where((FunctionVersion.function.function_id == fid) & (FunctionVersion.version == version))
            .first()
        )
        if row is None:
            raise ApiError(404, "not_found", f"function {name!r} has no version {version}")
        return row

    async def finalize(self, project: dict[str, Any], name: str, version: int) -> VersionInfo:
        """Reads the uploaded bytes, records their SHA-256, validates them, and only then marks them ready."""
        row = await self.version_row(project, name, version)
        if row.state == "ready":
            return await self.info(row)
        # Presigned S3 uploads cannot be size-limited, so the limit is enforced here, reading one byte more.
        data = await self.store.read(row.artifact_key, max_bytes=self.max_upload_bytes)
        if data is None:
            raise ApiError(409, "not_uploaded", f"nothing was uploaded for {name} v{version} yet")
        if len(data) > self.max_upload_bytes:
            raise ApiError(
                413,
                "payload_too_large",
                f"the uploaded module exceeds api.max_upload_bytes ({self.max_upload_bytes} bytes); "
                "upload a smaller one to the same URL and finalize again",
            )
        row.sha256 = hashlib.sha256(data).hexdigest()
        row.size_bytes = len(data)
        try:
            spec = FunctionSpec(
                row.artifact_key.rsplit("/", 1)[0],
                version,
                entrypoint=row.entrypoint,
                memory_pages=row.memory_pages,
                max_execution_ms=row.max_execution_ms,
            )
            report = await asyncio.to_thread(validate_module, data, spec, host_functions=self.host_functions)
        except ValidationError as exc:
            row.state, row.reason = "rejected", exc.message
            await row.save()
            raise ApiError(422, "invalid_module", exc.message) from None
        row.state, row.reason = "ready", ""
        row.denied_imports = list(report.denied_wasi_imports)  # type: ignore[assignment]
        await row.save()
        return await self.info(row)

    async def info(self, row: FunctionVersion, *, with_url: bool = False) -> VersionInfo:
        fid = row.artifact_key.rsplit("/", 1)[0]
        url = ""
        if with_url and row.state == "ready":
            url = await self.store.download_url(row.artifact_key, ttl_s=self.url_ttl_s)
        return VersionInfo(
            function_id=fid,
            version=row.version,
            state=row.state,
            reason=row.reason,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            memory_pages=row.memory_pages,
            max_execution_ms=row.max_execution_ms,
            entrypoint=row.entrypoint,
            min_hot_instances=row.min_hot_instances,
            max_hot_instances=row.max_hot_instances,
            http_allow=list(json_list(row.http_allow)),
            denied_imports=list(json_list(row.denied_imports)),
            artifact_url=url,
        )

    async def list_functions(self, project: dict[str, Any]) -> list[dict[str, Any]]:
        functions = await Function.select().where(Function.project == project["id"]).order_by(Function.name)
        out = []
        for fn in functions:
            versions = (
                await FunctionVersion.objects()
                .where(FunctionVersion.function == fn["id"])
                .order_by(FunctionVersion.version)
            )
            out.append(
                {
                    "name": fn["name"],
                    "function_id": fn["function_id"],
                    "versions": [msgspec.to_builtins(await self.info(v)) for v in versions],
                }
            )
        return out
