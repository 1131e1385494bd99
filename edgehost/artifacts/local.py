"""The embedded artifact store: a folder on the CP, reached through URLs the CP signs and serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from edgehost.artifacts.signing import UrlSigner
from edgehost.files import write_atomic

CHUNK = 256 * 1024


class LocalArtifactStore:
    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root
        self.signer = signer
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"artifact key {key!r} escapes the store")
        return path

    async def upload_url(self, key: str, *, ttl_s: int) -> str:
        return self.signer.sign("PUT", key, ttl_s=ttl_s)

    async def download_url(self, key: str, *, ttl_s: int) -> str:
        return self.signer.sign("GET", key, ttl_s=ttl_s)

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return await asyncio.to_thread(self._read, path, max_bytes + 1)

    @staticmethod
    def _read(path: Path, limit: int) -> bytes:
        """At most `limit` bytes, so a caller can tell an oversized object without loading all of it."""
        with path.open("rb") as f:
            return f.read(limit)

    async def write(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Atomic: a reader sees the old object or the new one, never half of one; durable, as the
        # CP records the version as uploaded once this returns.
        write_atomic(path, data)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
