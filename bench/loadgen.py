"""HTTP load: wrk when installed (it costs the server's core least), else a raw-socket asyncio client.

Both report the same `LoadResult`, so a benchmark does not care which one ran; the generator in
use is printed with the figures because their absolute numbers differ. `open_loop` sends at a fixed
rate whatever the answers do (wrk is closed-loop: a slow answer delays the next request and hides
its own queueing), for latency at a given share of the peak throughput.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    tool: str


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        print(f"[loadgen] unparsed wrk latency {text!r}", file=sys.stderr)
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> LoadResult:
    def grab(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, out, re.MULTILINE)
        return match.group(1) if match else default

    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return LoadResult(
        requests=int(grab(r"(\d+) requests in")),
        rps=float(grab(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(grab(r"^\s+50%\s+(\S+)", "nan")),  # anchored: "73.99%" in the stats line is no p99
        p99_ms=_ms(grab(r"^\s+99%\s+(\S+)", "nan")),
        non_2xx=int(grab(r"Non-2xx or 3xx responses: (\d+)")),
        errors=socket_errors,
        tool="wrk",
    )


def run_wrk(
    url: str, seconds: float, connections: int = 16, threads: int = 1, script: list[str] | None = None
) -> LoadResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url, *(script or [])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    return parse_wrk(out)


# wrk's `delay()` hook: each connection waits this many milliseconds after an answer before its next request.
PACING = Path(__file__).parent / "wrk_pacing.lua"


def paced(url: str, rate: float, seconds: float, delay_ms: int = 4) -> LoadResult:
    """About `rate` requests per second from wrk (one thread): connections that each wait `delay_ms`
    after every answer, as many as that rate needs, corrected once from a 2 s trial. Closed-loop
    still (an answer's own latency is timed from when it was sent), but the server is never
    saturated by the client, unlike plain wrk; `open_loop` is the fixed-rate variant."""
    script = ["-s", str(PACING), "--", str(delay_ms)]
    connections = max(1, round(rate * delay_ms / 1000))
    trial = run_wrk(url, 2, connections, 1, script)
    connections = max(1, round(connections * rate / max(trial.rps, 1.0)))
    return run_wrk(url, seconds, connections, 1, script)


async def roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One request on a keep-alive connection: (status, body)."""
    writer.write(request)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return int(status_line.split(b" ", 2)[1]), body


async def _connection(
    host: str, port: int, request: bytes, stop_at: float, latencies: list[float], tally: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            status, _ = await roundtrip(reader, writer, request)
            latencies.append((time.perf_counter() - start) * 1000)
            if not 200 <= status < 300:
                tally["non_2xx"] += 1
    except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
        tally["errors"] += 1
    finally:
        writer.close()


async def _python_load(url: str, seconds: float, connections: int) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    tally = {"non_2xx": 0, "errors": 0}
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(
        *(_connection(host, port, request, stop_at, latencies, tally) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    latencies.sort()

    return LoadResult(
        len(latencies),
        len(latencies) / elapsed,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.99),
        tally["non_2xx"],
        tally["errors"],
        "python",
    )


def run_python(url: str, seconds: float, connections: int = 16) -> LoadResult:
    return asyncio.run(_python_load(url, seconds, connections))


def load(url: str, seconds: float, connections: int = 16, threads: int = 1) -> LoadResult:
    """Closed-loop load for `seconds` over `connections` keep-alive connections (`threads` wrk threads)."""
    if have_wrk():
        return run_wrk(url, seconds, connections, threads)
    return run_python(url, seconds, connections)


def _percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))] if sorted_ms else float("nan")
