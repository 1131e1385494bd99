"""Clients that hold an ingress's connections without finishing requests, until SIGTERM or SIGINT.

`python -m bench.hostile_clients PORT --idle N --silent N --slow-heads N --stalled-uploads N
--never-reading N` opens them all, prints `ready` on stdout, and keeps them going: idle keep-alive
connections (one answered GET /hello each), silent ones (nothing sent), heads sent a byte a second,
GET /hello uploads that send their head and a few bytes of a 1,000-byte body, then a byte a second,
and clients that POST 1,000,000 bytes to /echo (answered with all of them) and never read: a 4 KiB
receive buffer, never emptied, so the answer waits at the server. A connection the server closes
is opened again (but for the never-reading ones, which cannot tell), so the pressure stays
constant; the number of reopens is printed at exit. Run in its own process so its sockets cost the
load generator nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import socket
from collections import Counter

HEAD = b"GET /hello HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
UPLOAD = b"GET /hello HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\nxxxx"
ECHO = b"POST /echo HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1_000_000
DRIP_S = 1.0


async def _never_read(port: int, ready: asyncio.Queue[None]) -> None:
    """One POST /echo whose answer is never read, held until cancelled: the server's drop after
    runner.send_timeout_s sends nothing, so this client cannot tell, and is not reopened."""
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window follows
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, ECHO)
        while True:  # ready once the answer has started: peeking leaves the receive window closed
            try:
                if sock.recv(12, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            await asyncio.sleep(0.05)
        ready.put_nowait(None)
        await loop.create_future()


async def _hold(port: int, kind: str, reopened: Counter[str], ready: asyncio.Queue[None]) -> None:
    first = True
    while True:
        if kind == "never-reading":
            try:
                await _never_read(port, ready)
            except OSError:
                await asyncio.sleep(0.1)
            continue
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            if kind == "idle":
                writer.write(HEAD)
                await reader.readuntil(b"Hello from edgefn!\n")
            elif kind == "upload":
                writer.write(UPLOAD)
            if first:
                first = False
                ready.put_nowait(None)
            drip = {"slow": HEAD[:-2], "upload": b"x" * 900}.get(kind, b"")
            for byte in drip:
                await asyncio.sleep(DRIP_S)
                writer.write(bytes([byte]))
                await writer.drain()
            await reader.read()  # held until the server closes it
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
        reopened[kind] += 1


async def main(port: int, counts: dict[str, int]) -> None:
    total = sum(counts.values())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < total + 64 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (total + 64, hard))
    reopened: Counter[str] = Counter()
    ready: asyncio.Queue[None] = asyncio.Queue()
    tasks = []
    for kind, count in counts.items():
        for _ in range(count):
            tasks.append(asyncio.create_task(_hold(port, kind, reopened, ready)))
            if len(tasks) % 100 == 0:
                await asyncio.sleep(0)  # let connects progress rather than opening thousands at once
    for _ in range(total):
        await ready.get()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    print("reopened " + " ".join(f"{k}={reopened[k]}" for k in counts), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.hostile_clients", description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--silent", type=int, default=0)
    parser.add_argument("--slow-heads", type=int, default=0)
    parser.add_argument("--stalled-uploads", type=int, default=0)
    parser.add_argument("--never-reading", type=int, default=0)
    args = parser.parse_args()
    kinds = {
        "idle": args.idle,
        "silent": args.silent,
        "slow": args.slow_heads,
        "upload": args.stalled_uploads,
        "never-reading": args.never_reading,
    }
    asyncio.run(main(args.port, kinds))
