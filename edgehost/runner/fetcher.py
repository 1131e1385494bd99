"""Artifact download with integrity: stream to a temp file while hashing, verify, retry with backoff.

Runners fetch only over HTTP(S) — presigned URLs from the CP's store, S3 or local — never `s3://`
with credentials of their own, so an edge node holds no store secrets.

Failure policy (requirement 11.1: exponential backoff from 1 s, capped at 60 s, 5 attempts):

- network errors, truncated bodies, and any non-200 answer are retried. 404/410 too: a fresh
  upload may not have replicated yet; when the last attempt was a 404/410 the error is
  `not_found`, otherwise `network`.
- a SHA-256 mismatch fails at once with `integrity`: the store answered completely with the bytes
  it holds, so asking again returns the same wrong bytes; the CP must hear about it (req. 2.4, 10.3).
  A body larger than `max_bytes` is also `integrity`: it cannot be the artifact that was uploaded.
- a local disk failure (ENOSPC and friends) fails at once with `disk`: waiting seconds does not free
  space; the caller evicts or reports.

No temp file survives a failure; on success the caller owns the returned file (and moves it into
the cache, which is why `dest_dir` should be the cache's temp directory on the same filesystem).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from edgehost.backoff import Backoff
from edgehost.security.tls import node_client_context
from edgehost.settings import Settings

_NOT_FOUND = frozenset({404, 410})


class FetchError(Exception):
    """Why an artifact could not be fetched; `code` is one of not_found, network, integrity, disk."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        attempts: int,
        expected_sha256: str | None = None,
        actual_sha256: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message} (after {attempts} attempt{'s' if attempts != 1 else ''})")
        self.code = code
        self.message = message
        self.attempts = attempts
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


@dataclass(frozen=True, slots=True)
class RetryPolicy(Backoff):
    """`attempts` tries at most, paced by the backoff (jitter ±10 %)."""

    attempts: int = 5
    jitter: float = 0.1

    def delays(self, rng: random.Random) -> list[float]:
        """The waits before attempts 2..n (so attempts - 1 of them); jitter spreads retrying nodes apart."""
        return list(itertools.islice(self.waits(rng), max(self.attempts - 1, 0)))


class _Retryable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Final(Exception):
    def __init__(self, code: str, message: str, actual_sha256: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.actual_sha256 = actual_sha256


async def fetch_artifact(
    url: str,
    *,
    expected_sha256: str,
    dest_dir: Path,
    client: httpx.AsyncClient,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_bytes: int | None = None,
    rng: random.Random | None = None,
) -> Path:
    """Download `url` into a new file in `dest_dir` and return it once its SHA-256 is `expected_sha256`.

    Raises FetchError; raises ValueError for a URL that is not http(s).
    """
    if httpx.URL(url).scheme not in ("http", "https"):
        raise ValueError(f"artifact URL must be http(s), got {url!r}")
    expected = expected_sha256.lower()
    delays = policy.delays(rng or random.Random())
    attempts = max(policy.attempts, 1)
    last: _Retryable | None = None
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            await sleep(delays[attempt - 2])
        try:
            return await _attempt(url, expected, dest_dir, client, max_bytes)
        except _Retryable as e:
            last = e
        except _Final as e:
            raise FetchError(
                e.code,
                e.message,
                attempts=attempt,
                expected_sha256=expected,
                actual_sha256=e.actual_sha256,
            ) from None
    assert last is not None
    raise FetchError(last.code, last.message, attempts=attempts, expected_sha256=expected)


async def _attempt(
    url: str, expected: str, dest_dir: Path, client: httpx.AsyncClient, max_bytes: int | None
) -> Path:
    try:
        fd, name = tempfile.mkstemp(dir=dest_dir, prefix="fetch-", suffix=".part")
    except OSError as e:
        raise _Final("disk", f"cannot create a file in {dest_dir}: {e}") from e
    tmp = Path(name)
    ok = False
    try:
        digest = hashlib.sha256()
        try:
            async with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    code = "not_found" if resp.status_code in _NOT_FOUND else "network"
                    raise _Retryable(code, f"GET {_redact(url)} answered {resp.status_code}")
                length = resp.headers.get("content-length")
                if max_bytes is not None and length is not None and int(length) > max_bytes:
                    raise _Final("integrity", f"artifact is {length} bytes, over the {max_bytes} limit")
                received = 0
                async for chunk in resp.aiter_bytes():
                    received += len(chunk)
                    if max_bytes is not None and received > max_bytes:
                        raise _Final("integrity", f"artifact is over the {max_bytes} byte limit")
                    digest.update(chunk)
                    _write_all(fd, chunk)
                if length is not None and resp.num_bytes_downloaded != int(length):
                    raise _Retryable(
                        "network", f"body truncated: {resp.num_bytes_downloaded} of {length} bytes"
                    )
        except httpx.HTTPError as e:
            raise _Retryable("network", f"GET {_redact(url)} failed: {type(e).__name__}: {e}") from e
        try:
            await asyncio.to_thread(os.fsync, fd)
        except OSError as e:
            raise _Final("disk", f"cannot sync {tmp}: {e}") from e
        actual = digest.hexdigest()
        if actual != expected:
            raise _Final("integrity", f"sha256 {actual} does not match the expected {expected}", actual)
        ok = True
        return tmp
    finally:
        os.close(fd)
        if not ok:
            tmp.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as e:
        raise _Final("disk", f"cannot write the artifact: {e}") from e


def _redact(url: str) -> str:
    """The URL without its query: presigned signatures do not belong in logs or error reports."""
    return str(httpx.URL(url).copy_with(query=None))


def artifact_client(settings: Settings) -> httpx.AsyncClient:
    """The client for artifact URLs: S3 presigned URLs as they are; URLs on the CP's node listener
    (the `local` backend) over the node's mutual TLS, like every other call to the CP."""
    mounts: dict[str, httpx.AsyncBaseTransport] = {}
    node_tls = node_client_context(settings, settings.runner.control_plane_url)
    if node_tls is not None:
        cp = httpx.URL(settings.runner.control_plane_url)
        mounts[f"https://{cp.host}:{cp.port or 443}"] = httpx.AsyncHTTPTransport(verify=node_tls)
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0), mounts=mounts)
