"""wasi:http/types 0.2, server side: the incoming request the runner hands `handle`, and the
outgoing response the guest builds and sets on its `response-outparam`.

Header fields follow RFC 9110 §5: a name is a token, a value holds no CR, LF or NUL (else
`header-error.invalid-syntax`); fields the host hands out (a request's, a response's) are
immutable (`header-error.immutable`), as the interface says. One fields resource holds at most
MAX_FIELDS_BYTES of names and values (wasi:http 0.2 has no error for that: a trap). A response
body is bounded (`ComponentState.max_bytes`): more is `bad_response`, as an oversized ABI v1
response is.
"""

from __future__ import annotations

import re
from typing import Any, cast

from wasmtime.component import Variant

from ..codec import MAX_HEADER_BYTES
from ..errors import InvokeError
from .state import ComponentState, Handle, Handler
from .values import NONE, case, err, ok, some
from .wasi_io import HostError, InputStream, OutputStream, Pollable

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\r\n\0]")
_METHODS = frozenset({"get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"})
INVALID = case("invalid-syntax")
IMMUTABLE = case("immutable")
# The most bytes of names and values one fields resource holds: what a response's header fields
# may take by default, so a guest appending forever traps instead of growing the runner's memory.
MAX_FIELDS_BYTES = MAX_HEADER_BYTES


def _size(entries: list[tuple[str, bytes]]) -> int:
    return sum(len(name) + len(value) for name, value in entries)


class Fields:
    """Header (or trailer) fields in order, names lowercased; `mutable` is False for handed-out ones.
    `size` is the bytes of their names and values (at most MAX_FIELDS_BYTES for guest-made ones)."""

    __slots__ = ("entries", "mutable", "size")

    def __init__(self, entries: list[tuple[str, bytes]], *, mutable: bool = True) -> None:
        self.entries = entries
        self.mutable = mutable
        self.size = _size(entries)


def _within(size: int) -> None:
    if size > MAX_FIELDS_BYTES:
        raise InvokeError(
            "trap", f"the guest's header fields would take {size} bytes; at most {MAX_FIELDS_BYTES}"
        )


class IncomingRequest:
    __slots__ = ("authority", "body", "consumed", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: list[tuple[str, bytes]], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.consumed = False
        self.authority = next((value.decode("latin-1") for name, value in headers if name == "host"), None)


class IncomingBody:
    __slots__ = ("data", "streamed")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.streamed = False


class FutureTrailers:
    """An incoming body's trailers: a runner passes none on."""


class OutgoingBody:
    """What the guest writes, up to `limit` bytes, until it finishes the body."""

    __slots__ = ("data", "finished", "limit", "streamed", "taken")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.taken = False  # the guest has its handle (outgoing-response.body, once)
        self.streamed = False  # the guest has its stream (outgoing-body.write, once)
        self.finished = False  # outgoing-body.finish was called: the bytes are final

    def sink(self, chunk: bytes) -> None:
        if self.finished:  # wasi:http: the stream, a child of the body, ends with it
            raise InvokeError("trap", "the guest wrote to a body after finishing it")
        if len(self.data) + len(chunk) > self.limit:
            raise InvokeError("bad_response", f"the response body exceeds {self.limit} bytes")
        self.data += chunk


class OutgoingResponse:
    __slots__ = ("body", "headers", "status")

    def __init__(self, headers: Fields, limit: int) -> None:
        self.headers = headers
        self.status = 200
        self.body = OutgoingBody(limit)  # the response keeps the bytes; the guest only writes them


class ResponseOutparam:
    """Where `handle` puts its answer; the runner reads it from the instance state."""


def _valid(name: str, value: bytes | None = None) -> bool:
    if not _TOKEN.fullmatch(name.encode("utf-8", "surrogateescape")):
        return False
    return value is None or not _BAD_VALUE.search(value)


def _fields_new(state: ComponentState) -> Any:
    return state.own(Fields([]), "fields")


def _fields_from_list(state: ComponentState, entries: list[tuple[str, bytes]]) -> Variant:
    if not all(_valid(name, value) for name, value in entries):
        return err(INVALID)
    fields = Fields([(name.lower(), bytes(value)) for name, value in entries])
    _within(fields.size)
    return ok(state.own(fields, "fields"))


def _get(state: ComponentState, self: Handle, name: str) -> list[bytes]:
    key = name.lower()
    return [value for field, value in state.get(self, Fields).entries if field == key]


def _has(state: ComponentState, self: Handle, name: str) -> bool:
    return bool(_get(state, self, name))


def _change(state: ComponentState, self: Handle, name: str, values: list[bytes], *, keep: bool) -> Variant:
    fields = state.get(self, Fields)
    if not fields.mutable:
        return err(IMMUTABLE)
    if not all(_valid(name, value) for value in values) or not _valid(name):
        return err(INVALID)
    key = name.lower()
    added = [(key, bytes(value)) for value in values]
    if keep:
        _within(fields.size + _size(added))
        fields.entries.extend(added)
        fields.size += _size(added)
    else:
        kept = [entry for entry in fields.entries if entry[0] != key] + added
        fields.size = _size(kept)
        _within(fields.size)
        fields.entries = kept
    return ok()


def _set(state: ComponentState, self: Handle, name: str, values: list[bytes]) -> Variant:
    return _change(state, self, name, values, keep=False)


def _delete(state: ComponentState, self: Handle, name: str) -> Variant:
    return _change(state, self, name, [], keep=False)


def _append(state: ComponentState, self: Handle, name: str, value: bytes) -> Variant:
    return _change(state, self, name, [value], keep=True)


def _entries(state: ComponentState, self: Handle) -> list[tuple[str, bytes]]:
    return list(state.get(self, Fields).entries)


def _clone(state: ComponentState, self: Handle) -> Any:
    return state.own(Fields(list(state.get(self, Fields).entries)), "fields")


def _method(state: ComponentState, self: Handle) -> Variant:
    method = state.get(self, IncomingRequest).method
    lower = method.lower()
    return case(lower) if lower in _METHODS and method.isupper() else case("other", method)


def _path(state: ComponentState, self: Handle) -> Variant:
    return some(state.get(self, IncomingRequest).path)


def _scheme(state: ComponentState, self: Handle) -> Variant:
    state.get(self, IncomingRequest)
    return some(case("HTTP"))


def _authority(state: ComponentState, self: Handle) -> Variant:
    authority = state.get(self, IncomingRequest).authority
    return NONE if authority is None else some(authority)


def _request_headers(state: ComponentState, self: Handle) -> Any:
    return state.own(Fields(state.get(self, IncomingRequest).headers, mutable=False), "fields")


def _consume(state: ComponentState, self: Handle) -> Variant:
    request = state.get(self, IncomingRequest)
    if request.consumed:
        return err()
    request.consumed = True
    return ok(state.own(IncomingBody(request.body), "incoming-body"))


def _body_stream(state: ComponentState, self: Handle) -> Variant:
    body = state.get(self, IncomingBody)
    if body.streamed:
        return err()
    body.streamed = True
    return ok(state.own(InputStream(body.data), "input-stream"))


def _body_finish(state: ComponentState, this: Handle) -> Any:
    state.take(this, IncomingBody)
    return state.own(FutureTrailers(), "future-trailers")


def _trailers_subscribe(state: ComponentState, self: Handle) -> Any:
    state.get(self, FutureTrailers)
    return state.own(Pollable(), "pollable")


def _trailers_get(state: ComponentState, self: Handle) -> Variant:
    state.get(self, FutureTrailers)
    return some(ok(ok(NONE)))


def _response_new(state: ComponentState, headers: Handle) -> Any:
    fields = state.take(headers, Fields)
    fields.mutable = False
    return state.own(OutgoingResponse(fields, state.max_bytes), "outgoing-response")


def _status_code(state: ComponentState, self: Handle) -> int:
    return state.get(self, OutgoingResponse).status


def _set_status_code(state: ComponentState, self: Handle, status: int) -> Variant:
    response = state.get(self, OutgoingResponse)  # first: a dead handle traps even with a bad status
    if not 100 <= status <= 599:  # RFC 9110 §15: three digits, 1xx to 5xx
        return err()
    response.status = status
    return ok()


def _response_headers(state: ComponentState, self: Handle) -> Any:
    return state.own(state.get(self, OutgoingResponse).headers, "fields")


def _response_body(state: ComponentState, self: Handle) -> Variant:
    body = state.get(self, OutgoingResponse).body
    if body.taken:
        return err()
    body.taken = True
    return ok(state.own(body, "outgoing-body"))


def _body_write(state: ComponentState, self: Handle) -> Variant:
    body = state.get(self, OutgoingBody)
    if body.streamed:
        return err()
    body.streamed = True
    return ok(state.own(OutputStream(body.sink), "output-stream"))


def _outgoing_finish(state: ComponentState, this: Handle, trailers: Variant) -> Variant:
    state.take(this, OutgoingBody).finished = True
    if trailers.tag == "some":
        state.take(cast(Handle, trailers.payload), Fields)
    return ok()


def _outparam_set(state: ComponentState, param: Handle, response: Variant) -> None:
    state.take(param, ResponseOutparam)
    if response.tag == "ok":
        state.response = state.take(cast(Handle, response.payload), OutgoingResponse)
    else:
        state.response = response.payload  # the guest's error-code


def _http_error_code(state: ComponentState, error: Handle) -> Variant:
    state.get(error, HostError)
    return NONE


TYPES: dict[str, Handler] = {
    "[constructor]fields": _fields_new,
    "[static]fields.from-list": _fields_from_list,
    "[method]fields.get": _get,
    "[method]fields.has": _has,
    "[method]fields.set": _set,
    "[method]fields.delete": _delete,
    "[method]fields.append": _append,
    "[method]fields.entries": _entries,
    "[method]fields.clone": _clone,
    "[method]incoming-request.method": _method,
    "[method]incoming-request.path-with-query": _path,
    "[method]incoming-request.scheme": _scheme,
    "[method]incoming-request.authority": _authority,
    "[method]incoming-request.headers": _request_headers,
    "[method]incoming-request.consume": _consume,
    "[method]incoming-body.stream": _body_stream,
    "[static]incoming-body.finish": _body_finish,
    "[method]future-trailers.subscribe": _trailers_subscribe,
    "[method]future-trailers.get": _trailers_get,
    "[constructor]outgoing-response": _response_new,
    "[method]outgoing-response.status-code": _status_code,
    "[method]outgoing-response.set-status-code": _set_status_code,
    "[method]outgoing-response.headers": _response_headers,
    "[method]outgoing-response.body": _response_body,
    "[method]outgoing-body.write": _body_write,
    "[static]outgoing-body.finish": _outgoing_finish,
    "[static]response-outparam.set": _outparam_set,
    "http-error-code": _http_error_code,
}
