"""Artifacts on any S3 API through the `minio` client; runners fetch through presigned URLs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error

CHUNK = 256 * 1024


class S3ArtifactStore:
    def __init__(
        self, *, endpoint: str, access_key: str, secret_key: str, bucket: str, secure: bool, region: str
    ) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"{'https' if secure else 'http'}://{endpoint}")
        self.bucket = bucket
        self.client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
        )
        self._bucket_ready = False

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        exists = await asyncio.to_thread(self.client.bucket_exists, self.bucket)
        if not exists:
            try:
                await asyncio.to_thread(self.client.make_bucket, self.bucket)
            except S3Error as exc:  # another CP replica made it first
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        self._bucket_ready = True

    async def upload_url(self, key: str, *, ttl_s: int) -> str:
        await self._ensure_bucket()
        return await asyncio.to_thread(
            self.client.presigned_put_object, self.bucket, key, expires=timedelta(seconds=ttl_s)
        )

    async def download_url(self, key: str, *, ttl_s: int) -> str:
        await self._ensure_bucket()
        return await asyncio.to_thread(
            self.client.presigned_get_object, self.bucket, key, expires=timedelta(seconds=ttl_s)
        )

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        await self._ensure_bucket()

        def fetch() -> bytes | None:
            try:
                response: Any = self.client.get_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    return None
                raise
            try:
                return bytes(response.read(max_bytes + 1))
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(fetch)

    async def write(self, key: str, data: bytes) -> None:
        await self._ensure_bucket()
        await asyncio.to_thread(self.client.put_object, self.bucket, key, io.BytesIO(data), len(data))

    async def delete(self, key: str) -> None:
        await self._ensure_bucket()
        await asyncio.to_thread(self.client.remove_object, self.bucket, key)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        data = await self.read(key, max_bytes=1 << 31)
        if data is not None:
            for start in range(0, len(data), CHUNK):
                yield data[start : start + CHUNK]
