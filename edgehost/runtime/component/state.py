"""The host side of one component instance: its resources by handle, and the invocation it runs.

Host resources (streams, fields, requests, ...) are Python objects; the guest holds them through
`own`/`borrow` handles whose representation (`rep`) is a key in `ComponentState.table`. Each
resource kind has one host type id (`RESOURCE_IDS`), shared by every version of an interface a
component imports, so `wasi:io/streams@0.2.0`'s output-stream is the one `wasi:http/types` hands out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from wasmtime.component import ResourceType

from ..errors import InvokeError
from ..hostcalls import InvocationContext
from .handles import rep_of

T = TypeVar("T")
Handle = int  # an `own` handle the guest passed in: its address (handles.py); a `borrow` arrives as its rep
Handler = Callable[..., Any]  # a host function: handler(state, *arguments) -> result

# WIT resource names (and their aliases: `headers` and `trailers` are `fields`) -> host type ids.
RESOURCE_IDS: dict[str, int] = {
    "pollable": 1,
    "error": 2,
    "io-error": 2,
    "input-stream": 3,
    "output-stream": 4,
    "fields": 5,
    "headers": 5,
    "trailers": 5,
    "incoming-request": 6,
    "outgoing-response": 7,
    "incoming-body": 8,
    "outgoing-body": 9,
    "response-outparam": 10,
    "future-trailers": 11,
    "outgoing-request": 12,
    "request-options": 13,
    "future-incoming-response": 14,
    "incoming-response": 15,
    "terminal-input": 16,
    "terminal-output": 17,
}
# What belongs to one request: the host forgets these when the invocation ends, dropped or not
# (componentize-py 0.25 never drops its incoming-request, so each request's body stayed in a hot
# instance's table). Streams count unless they are wasi:cli's (`lasting`), which a guest may keep.
REQUEST_SCOPED = frozenset(
    {
        "incoming-request",
        "incoming-body",
        "input-stream",
        "output-stream",
        "future-trailers",
        "outgoing-response",
        "outgoing-body",
        "response-outparam",
        "outgoing-request",
        "future-incoming-response",
        "incoming-response",
    }
)
# Host resources one instance may hold at once (a request uses a dozen or two): more is a trap,
# so a guest that never drops its handles cannot grow the runner's memory on a hot instance.
MAX_LIVE_RESOURCES = 1024
_OTHER_IDS: dict[str, int] = {}  # resources of denied interfaces (filesystem, sockets): never created
_other_lock = threading.Lock()  # components may be linked on several threads at once


def resource_id(name: str) -> int:
    """The host type id of resource `name`; one per name, so an interface that `use`s another's
    resource gets the same type."""
    known = RESOURCE_IDS.get(name)
    if known is not None:
        return known
    with _other_lock:
        return _OTHER_IDS.setdefault(name, 1000 + len(_OTHER_IDS))


def resource_type(name: str) -> ResourceType:
    return ResourceType.host(resource_id(name))


class Own(NamedTuple):
    """A new handle for the guest: host resource `rep` of host type `type_id`."""

    rep: int
    type_id: int


class ComponentState:
    """Resources of one instance, and (while it serves) the invocation's context and response.

    `context` is the address of the store context of the host call in progress; `response` is
    what the guest set on its `response-outparam`, None until then. `own` handles the guest passes
    in are resource_any addresses (handles.py), `borrow` ones their reps (values._read_borrow).
    """

    __slots__ = ("_next", "_scoped", "context", "ctx", "fetched", "max_bytes", "response", "table")

    def __init__(self, max_bytes: int) -> None:
        self.table: dict[int, Any] = {}
        self._scoped: set[int] = set()  # reps of REQUEST_SCOPED resources in the table
        self._next = 1
        self.max_bytes = (
            max_bytes  # the function's memory: the most a response body or one host-made value holds
        )
        self.ctx: InvocationContext | None = None
        self.fetched = 0  # bytes of outgoing requests' responses this request received
        self.response: Any = None
        self.context = 0

    def own(self, value: Any, kind: str, *, lasting: bool = False) -> Own:
        """A new handle the guest owns on `value` (a resource of kind `kind`); one of
        REQUEST_SCOPED is forgotten when the request ends unless `lasting`. InvokeError `trap`
        past MAX_LIVE_RESOURCES."""
        if len(self.table) >= MAX_LIVE_RESOURCES:
            raise InvokeError(
                "trap",
                f"the guest holds {len(self.table)} host resources (fields, streams, pollables, "
                f"requests) without dropping them; an instance may hold {MAX_LIVE_RESOURCES}",
            )
        rep = self._next
        self._next = rep + 1 if rep < 0xFFFFFFFF else 1
        self.table[rep] = value
        if kind in REQUEST_SCOPED and not lasting:
            self._scoped.add(rep)
        return Own(rep, RESOURCE_IDS[kind])

    def _lookup(self, rep: int, cls: type[T]) -> T:
        value = self.table.get(rep)
        if not isinstance(value, cls):
            raise InvokeError("trap", f"the guest passed a handle that is not a live {cls.__name__}")
        return value

    def get(self, rep: int, cls: type[T]) -> T:
        """The object behind a handle the guest lends (`borrow`), read as its rep
        (values._read_borrow: the borrow ended when the argument was read)."""
        return self._lookup(rep, cls)

    def take(self, handle: Handle, cls: type[T]) -> T:
        """The object behind a handle the guest gives up (`own`): the host holds it now."""
        rep = rep_of(self.context, handle)
        value = self._lookup(rep, cls)
        del self.table[rep]
        self._scoped.discard(rep)
        return value

    def drop(self, rep: int) -> None:
        """The guest dropped its handle: the host forgets the object."""
        self.table.pop(rep, None)
        self._scoped.discard(rep)

    def end_request(self) -> None:
        """Forgets the request's resources the guest still holds handles on; using one later
        is a trap ("not a live ...")."""
        for rep in self._scoped:
            self.table.pop(rep, None)
        self._scoped.clear()
        self.fetched = 0

    def invocation(self) -> InvocationContext:
        if self.ctx is None:
            raise InvokeError("trap", "a host function ran outside any invocation")
        return self.ctx


_current = threading.local()


def bind_state(state: ComponentState | None) -> None:
    """Make `state` the instance host functions on this thread act for."""
    _current.state = state


def current_state() -> ComponentState | None:
    state: ComponentState | None = getattr(_current, "state", None)
    return state
