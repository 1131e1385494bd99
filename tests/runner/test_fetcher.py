"""Artifact fetcher against a real local HTTP server: integrity, retries with backoff, cleanup."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from edgehost.runner.fetcher import FetchError, RetryPolicy, fetch_artifact

ARTIFACT = b"\0asm\1\0\0\0" + bytes(range(256)) * 64
DIGEST = hashlib.sha256(ARTIFACT).hexdigest()


@dataclass
class Script:
    """What the server answers, one step per request; the last step repeats."""

    steps: list[str] = field(default_factory=lambda: ["ok"])
    requests: int = 0

    def next(self) -> str:
        self.requests += 1
        return self.steps[min(self.requests, len(self.steps)) - 1]


class Server:
    def __init__(self) -> None:
        self.script = Script()
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                step = script.script.next()
                if step == "ok":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(ARTIFACT)))
                    self.end_headers()
                    self.wfile.write(ARTIFACT)
                elif step == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(ARTIFACT)))
                    self.end_headers()
                    self.wfile.write(ARTIFACT[:1000])
                    self.close_connection = True
                else:
                    self.send_response(int(step))
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = (
            f"http://127.0.0.1:{self.httpd.server_address[1]}/artifacts/fn/1.wasm?X-Amz-Signature=secret"
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def fetch(
    server: Server,
    client: httpx.AsyncClient,
    dest: Path,
    sleeps: Sleeps,
    *,
    sha: str = DIGEST,
    max_bytes: int | None = None,
    rng: random.Random | None = None,
) -> Path:
    return await fetch_artifact(
        server.url,
        expected_sha256=sha,
        dest_dir=dest,
        client=client,
        sleep=sleeps,
        max_bytes=max_bytes,
        rng=rng,
    )


async def test_success_returns_verified_file(
    server: Server, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sleeps = Sleeps()
    path = await fetch(server, client, tmp_path, sleeps)
    assert path.parent == tmp_path
    assert path.read_bytes() == ARTIFACT
    assert sleeps.delays == []
    assert list(tmp_path.iterdir()) == [path]


async def test_wrong_hash_fails_at_once_and_leaves_nothing(
    server: Server, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sleeps = Sleeps()
    with pytest.raises(FetchError) as info:
        await fetch(server, client, tmp_path, sleeps, sha="ab" * 32)
    err = info.value
    assert (err.code, err.attempts, err.expected_sha256, err.actual_sha256) == (
        "integrity",
        1,
        "ab" * 32,
        DIGEST,
    )
    assert server.script.requests == 1 and sleeps.delays == []
    assert list(tmp_path.iterdir()) == []


async def test_truncated_body_is_retried(server: Server, client: httpx.AsyncClient, tmp_path: Path) -> None:
    server.script.steps = ["truncated", "ok"]
    sleeps = Sleeps()
    path = await fetch(server, client, tmp_path, sleeps)
    assert path.read_bytes() == ARTIFACT
    assert server.script.requests == 2 and len(sleeps.delays) == 1
    assert list(tmp_path.iterdir()) == [path]


async def test_500_then_200_succeeds(server: Server, client: httpx.AsyncClient, tmp_path: Path) -> None:
    server.script.steps = ["500", "503", "ok"]
    sleeps = Sleeps()
    path = await fetch(server, client, tmp_path, sleeps, rng=random.Random(1))
    assert path.read_bytes() == ARTIFACT
    assert server.script.requests == 3
    assert sleeps.delays == pytest.approx([1, 2], rel=0.1)


async def test_always_500_gives_up_after_five_attempts_with_backoff(
    server: Server, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.script.steps = ["500"]
    sleeps = Sleeps()
    with pytest.raises(FetchError) as info:
        await fetch(server, client, tmp_path, sleeps)
    assert (info.value.code, info.value.attempts) == ("network", 5)
    assert "secret" not in str(info.value)  # the presigned signature is not repeated in reports
    assert server.script.requests == 5
    assert len(sleeps.delays) == 4
    for got, base in zip(sleeps.delays, [1, 2, 4, 8], strict=True):
        assert base * 0.9 <= got <= base * 1.1
    assert list(tmp_path.iterdir()) == []


async def test_404_is_retried_then_reported_as_not_found(
    server: Server, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.script.steps = ["404"]
    sleeps = Sleeps()
    with pytest.raises(FetchError) as info:
        await fetch(server, client, tmp_path, sleeps)
    assert (info.value.code, info.value.attempts) == ("not_found", 5)
    assert list(tmp_path.iterdir()) == []


async def test_404_then_replicated_succeeds(
    server: Server, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server.script.steps = ["404", "ok"]
    path = await fetch(server, client, tmp_path, Sleeps())
    assert path.read_bytes() == ARTIFACT


async def test_connection_refused_is_network(client: httpx.AsyncClient, tmp_path: Path) -> None:
    s = Server()
    url = s.url
    s.close()  # nothing listens on that port any more
    sleeps = Sleeps()
    with pytest.raises(FetchError) as info:
        await fetch_artifact(url, expected_sha256=DIGEST, dest_dir=tmp_path, client=client, sleep=sleeps)
    assert (info.value.code, info.value.attempts) == ("network", 5)
    assert list(tmp_path.iterdir()) == []


async def test_body_over_max_bytes_is_refused(
    server: Server, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(FetchError) as info:
        await fetch(server, client, tmp_path, Sleeps(), max_bytes=100)
    assert (info.value.code, info.value.attempts) == ("integrity", 1)
    assert list(tmp_path.iterdir()) == []


async def test_disk_full_fails_at_once(
    server: Server, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: object) -> int:  # the one thing a test cannot make real here: a full disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("edgehost.runner.fetcher.os.write", full)
    with pytest.raises(FetchError) as info:
        await fetch(server, client, tmp_path, Sleeps())
    monkeypatch.undo()
    assert (info.value.code, info.value.attempts) == ("disk", 1)
    assert list(tmp_path.iterdir()) == []


async def test_missing_dest_dir_is_disk(server: Server, client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        await fetch(server, client, tmp_path / "absent", Sleeps())
    assert info.value.code == "disk"


async def test_only_http_urls(client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await fetch_artifact("s3://bucket/key", expected_sha256=DIGEST, dest_dir=tmp_path, client=client)


def test_retry_policy_delays() -> None:
    assert RetryPolicy(jitter=0).delays(random.Random(0)) == [1, 2, 4, 8]
    assert RetryPolicy(jitter=0, attempts=9).delays(random.Random(0)) == [1, 2, 4, 8, 16, 32, 60, 60]
    jittered = RetryPolicy(attempts=9).delays(random.Random(3))
    assert all(d <= 60 for d in jittered)
    assert jittered[:4] == pytest.approx([1, 2, 4, 8], rel=0.1)
    assert RetryPolicy(attempts=1).delays(random.Random(0)) == []
