"""What the raw ASGI callables in front of Litestar share (the runner's ingress, the CP's heartbeat front)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class PayloadTooLarge(Exception):
    pass


class IncompleteBody(Exception):
    """The body did not arrive whole: answer 400, and never act on the part that came."""


class BodyTimeout(Exception):
    """The body did not arrive in time (RFC 9110 §15.5.9, 408 Request Timeout)."""


class BodiesOverBudget(Exception):
    """The bodies being read in this process would take more than their `BodyBudget`."""


class BodyBudget:
    """Bytes of request bodies being read at once in one process, at most `limit`: the memory
    that clients still sending bodies hold, whatever their number. One event loop uses it, so
    taking and giving back need no lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        """Counts `size` more bytes; BodiesOverBudget (and nothing counted) past the limit."""
        if self.used + size > self.limit:
            raise BodiesOverBudget
        self.used += size

    def give(self, size: int) -> None:
        self.used -= size


async def read_body(
    receive: Receive, limit: float, timeout_s: float | None = None, budget: BodyBudget | None = None
) -> bytes:
    """The whole request body; PayloadTooLarge as soon as it grows past `limit`; BodyTimeout when
    it is not complete `timeout_s` seconds after the call (a total deadline: a client dripping a
    byte at a time cannot hold the request open either); IncompleteBody unless it arrived whole;
    BodiesOverBudget when a chunk would take `budget` past its limit. What it took from `budget`
    goes back when it returns or raises: a body read whole counts against other bounds from then
    on (the ingress's requests in flight).

    granian reports every body it could not read to its end as `http.disconnect`, possibly
    after some `http.request` messages: a malformed chunk-size line or chunk, a body shorter
    than its Content-Length, a client gone mid-body (docs/runner.md has the experiments). The
    part that came is never returned: a guest or a handler must not take it for the whole.
    """
    if timeout_s is not None:
        try:
            async with asyncio.timeout(timeout_s):
                return await read_body(receive, limit, budget=budget)
        except TimeoutError:
            raise BodyTimeout from None
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise IncompleteBody
            chunk = message.get("body", b"")
            if chunk:
                if size + len(chunk) > limit:
                    raise PayloadTooLarge
                if budget is not None:
                    budget.take(len(chunk))
                size += len(chunk)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        if budget is not None:
            budget.give(size)
