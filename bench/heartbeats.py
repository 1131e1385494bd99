"""CP heartbeat capacity: heartbeats/s one `edgefn serve --mode control-plane` sustains on PostgreSQL.

1,000 simulated nodes, each with its own certificate from the bench CA (cached across runs), send
back-to-back heartbeats (closed loop) over 1,000 keep-alive connections, one per node as a real fleet
holds them (the CP's node routes take 4,096 connections, `serving.NODE_CONNECTIONS`).
Tokens are signed with the real `NodeSigner` before a round starts, so the load generator's core is not
spent on ECDSA while the CP is measured. Untimed warm-up: every node registers, then reports the
inventory its first reply asked for, so the rounds measure the steady state (including the CP's periodic
re-verification of each node's row, `liveness.VERIFY_AFTER_S`). Baseline: GET /healthz on the same CP
over the same connections, rounds alternated: granian and Litestar answering a constant, the floor the
heartbeat's work (token check, desired state, batched writes) adds to; heartbeats themselves bypass
Litestar (`controlplane/heartbeat_front.py`). The CP's own CPU time per round is read from /proc too:
requests per CP CPU-second say what one CP process sustains on a whole core, which the wall-clock
rate on a 2-core machine shared with the load generator (and PostgreSQL) cannot show.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec

from bench.cluster import cluster, ensure_ca
from bench.common import CACHE, REPO, Row, machine, median, say, table
from bench.loadgen import roundtrip
from edgehost.cli.settings_loader import local_host_functions
from edgehost.client import ApiClient
from edgehost.project import load_project
from edgehost.project.apply import apply_project
from edgehost.protocol import CachedFunction, Heartbeat, HeartbeatReply
from edgehost.security.node_token import NodeSigner
from tests.services import PostgresServer

GOAL = 2000.0
TOKEN_TTL_S = 300  # the CP's ceiling; tokens are signed up to a round ahead of use
WARM_UP_BEATS = 2  # register, then report the inventory the first reply asked for


def node_ids(n: int) -> list[str]:
    return [f"sim-{i:04d}" for i in range(n)]


def _sign_batch(ca_dir: str, ids: list[str], per_node: int) -> list[list[str]]:
    out = []
    for node_id in ids:
        cert = (Path(ca_dir) / f"{node_id}.pem").read_bytes()
        key = (Path(ca_dir) / f"{node_id}.key").read_bytes()
        signer = NodeSigner(node_id=node_id, cert_pem=cert, key_pem=key, ttl_s=TOKEN_TTL_S)
        out.append([signer.token() for _ in range(per_node)])
    return out


def sign_tokens(ca_dir: Path, ids: list[str], per_node: int) -> list[list[str]]:
    """per_node fresh tokens for every node, signed on all cores (each request needs an unused jti)."""
    workers = os.cpu_count() or 1
    chunks = [ids[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_sign_batch, [str(ca_dir)] * workers, chunks, [per_node] * workers))
    by_node = {
        node_id: tokens
        for chunk, part in zip(chunks, parts, strict=True)
        for node_id, tokens in zip(chunk, part, strict=True)
    }
    return [by_node[node_id] for node_id in ids]


class SimNode:
    """One simulated runner: its identity and the inventory it reports after learning its desired state."""

    def __init__(self, node_id: str, host: str, port: int) -> None:
        self.node_id, self.host, self.port = node_id, host, port
        self.inventory: tuple[CachedFunction, ...] = ()
        self.revision = 0

    def beat_request(self, token: str) -> bytes:
        beat = Heartbeat(
            node_id=self.node_id, labels={"region": "bench"}, functions=self.inventory, revision=self.revision
        )
        body = msgspec.json.encode(beat)
        head = (
            f"POST /v1/node/heartbeat HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"authorization: Bearer {token}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def learn(self, body: bytes) -> None:
        reply = msgspec.json.decode(body, type=HeartbeatReply)
        self.revision = reply.desired.revision
        self.inventory = tuple(
            CachedFunction(function_id=f.function_id, version=f.version, state="cached")
            for f in reply.desired.functions
        )


def health_request(port: int) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _round(
    port: int, connections: int, work: list[tuple[SimNode, bytes]], max_s: float = 20.0
) -> tuple[float, list[float], int]:
    """`connections` keep-alive connections drain the work list (for at most max_s, so a slow CP still
    finishes); returns (per second, latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    queue = list(reversed(work))

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue and time.perf_counter() < stop_at:
                node, request = queue.pop()
                start = time.perf_counter()
                try:
                    status, body = await roundtrip(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    failures += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    failures += 1
                elif request.startswith(b"POST") and not node.inventory:
                    node.learn(body)
        finally:
            writer.close()

    start = time.perf_counter()
    stop_at = start + max_s
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return (len(work) - len(queue)) / elapsed, sorted(latencies), failures


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


Sample = tuple[float, float, float, int, float]  # per s, p50, p99, failures, per CP CPU-second


async def _drive(
    port: int,
    cp_pid: int,
    ids: list[str],
    tokens: list[list[str]],
    rounds: int,
    per_round: int,
    connections: int,
) -> dict[str, list[Sample]]:
    nodes = [SimNode(node_id, "127.0.0.1", port) for node_id in ids]
    for k in range(WARM_UP_BEATS):  # untimed, and written through: nodes register, then report inventory
        warm = [(n, n.beat_request(t[k])) for n, t in zip(nodes, tokens, strict=True)]
        rate, _, failures = await _round(port, connections, warm, max_s=600)
        say(f"heartbeats warm-up {k + 1}/{WARM_UP_BEATS}: {rate:,.0f}/s, {failures} failures")
    results: dict[str, list[Sample]] = {"heartbeat": [], "healthz": []}
    for r in range(rounds):
        first = WARM_UP_BEATS + r * per_round
        # node-major interleaving: a node's next beat is a whole fleet further down the list
        beats = [
            (n, n.beat_request(t[first + k]))
            for k in range(per_round)
            for n, t in zip(nodes, tokens, strict=True)
        ]
        health = [(n, health_request(port)) for _ in range(per_round) for n in nodes]
        order = [("heartbeat", beats), ("healthz", health)]
        for name, work in order if r % 2 == 0 else list(reversed(order)):
            cpu_before = cpu_seconds(cp_pid)
            rate, lat, failures = await _round(port, connections, work)
            per_cpu_s = len(lat) / max(cpu_seconds(cp_pid) - cpu_before, 1e-9)
            results[name].append((rate, _pct(lat, 0.5), _pct(lat, 0.99), failures, per_cpu_s))
            say(
                f"heartbeats round {r + 1}/{rounds} {name}: {rate:,.0f}/s p50 {_pct(lat, 0.5):.1f} ms "
                f"p99 {_pct(lat, 0.99):.1f} ms failures {failures}, {per_cpu_s:,.0f} per CP CPU-second"
            )
    return results


def run(nodes: int = 1000, rounds: int = 3, per_round: int = 3, connections: int = 1000) -> list[Row]:
    ids = node_ids(nodes)
    CACHE.mkdir(parents=True, exist_ok=True)
    say(f"heartbeats: certificates for {nodes} nodes in {CACHE / 'ca'} (minted once)")
    ensure_ca(CACHE / "ca", ids)
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-hb-") as tmp, PostgresServer() as pg:
        root = Path(tmp)
        shutil.copytree(CACHE / "ca", root / "ca")
        with cluster(root, runners=0, database_url=pg.new_database(), extra_nodes=ids, interval_s=30) as c:
            project = root / "project"
            (project / "functions" / "hello").mkdir(parents=True)
            shutil.copy(REPO / "edgefn.toml", project / "edgefn.toml")
            shutil.copy(
                REPO / "functions" / "hello" / "hello.wat", project / "functions" / "hello" / "hello.wat"
            )
            with ApiClient(c.api, c.token) as client:
                apply_project(load_project(project), client, host_functions=local_host_functions())
            per_node = WARM_UP_BEATS + rounds * per_round
            say(f"heartbeats: signing {nodes * per_node:,} node tokens")
            tokens = sign_tokens(root / "ca", ids, per_node)
            port = int(c.api.rsplit(":", 1)[1])
            results = asyncio.run(_drive(port, c.cp.proc.pid, ids, tokens, rounds, per_round, connections))
    hb, hz = results["heartbeat"], results["healthz"]
    rate, base = median([r[0] for r in hb]), median([r[0] for r in hz])
    failed = sum(r[3] for r in hb)
    note = (
        f"{nodes} nodes over {connections} connections, closed loop, PostgreSQL, "
        f"{rounds}x{per_round} beats/node" + (f", {failed} failed" if failed else "")
    )
    return [
        Row(
            "cp-heartbeats",
            "heartbeats/s",
            rate,
            "/s",
            base,
            "GET /healthz same CP",
            f">= {GOAL:,.0f}/s",
            rate >= GOAL,
            note=note,
        ),
        Row(
            "cp-heartbeats",
            "heartbeats per CP CPU-second",
            median([r[4] for r in hb]),
            "/s",
            median([r[4] for r in hz]),
            "GET /healthz per CP CPU-second",
            f">= {GOAL:,.0f}/s",
            median([r[4] for r in hb]) >= GOAL,
            note="what one CP process sustains on a whole core (its own CPU time, all threads)",
        ),
        Row(
            "cp-heartbeats",
            "heartbeat p50 latency",
            median([r[1] for r in hb]),
            "ms",
            median([r[1] for r in hz]),
            "GET /healthz",
            note=f"{connections} in flight",
        ),
        Row(
            "cp-heartbeats",
            "heartbeat p99 latency",
            median([r[2] for r in hb]),
            "ms",
            median([r[2] for r in hz]),
            "GET /healthz",
            note=f"{connections} in flight",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.heartbeats", description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="heartbeat rounds, each with a /healthz round")
    parser.add_argument("--per-round", type=int, default=3, help="heartbeats per node in each round")
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    rows = run(args.nodes, args.rounds, args.per_round, args.connections)
    print(f"machine: {machine()}")
    print(table(rows))


if __name__ == "__main__":
    main()
