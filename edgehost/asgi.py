"""What the raw ASGI callables in front of Litestar share (the runner's ingress, the CP's heartbeat front)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class PayloadTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: float) -> bytes:
    """The whole request body; PayloadTooLarge as soon as it grows past `limit`. A client that
    disconnects ends the body where it left off (nothing will read the answer)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
