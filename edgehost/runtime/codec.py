"""ABI v1 wire format (u32 little-endian lengths).

Strings are UTF-8; bytes that are not valid UTF-8 survive a round trip via
``surrogateescape`` so a guest can never make decoding itself fail.

A guest's response is also checked against what HTTP lets it say (docs/abi.md): a final status
(200..599), header names that are RFC 9110 tokens, values without control characters, and at
most `max_header_bytes` of header fields. Anything else is a malformed response (`bad_response`),
so the instance that wrote it is destroyed and no client ever receives it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from edgehost.http_rules import FINAL_STATUS, TOKEN, field_value_ok

from .errors import InvokeError
from .types import GuestRequest

_U32 = struct.Struct("<I")
_pack_u32 = _U32.pack
_unpack_u32 = _U32.unpack_from
_unpack_2u32 = struct.Struct("<II").unpack_from
# Field names most responses carry: a set lookup spares them the token pattern (RFC 9110 §5.1).
_COMMON_NAMES = frozenset(
    {
        "access-control-allow-origin",
        "cache-control",
        "content-encoding",
        "content-language",
        "content-type",
        "etag",
        "expires",
        "last-modified",
        "location",
        "retry-after",
        "set-cookie",
        "vary",
        "www-authenticate",
    }
)
# The default bound on a response's header fields as sent (`name: value` and CRLF, 4 bytes per
# field beyond name and value); `runner.max_response_header_bytes` sets it.
MAX_HEADER_BYTES = 64 << 10
_FIELD_OVERHEAD = 4


# How strings become wire bytes and back; hosts that hold bytes (the ingress) use it too, so the
# bytes a client sent reach the guest unchanged, and the guest's reach the client.
TEXT_CODEC = ("utf-8", "surrogateescape")


class WireError(ValueError):
    """Malformed wire data; callers map it to their own error kind."""


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _read_u32(data: bytes, pos: int, what: str) -> int:
    if pos + 4 > len(data):
        raise WireError(f"the {what} runs past the end")
    return int(_unpack_u32(data, pos)[0])


def _read_bytes(data: bytes, pos: int, what: str) -> tuple[bytes, int]:
    size = _read_u32(data, pos, f"{what} length")
    pos += 4
    if pos + size > len(data):
        raise WireError(f"the {what} ({size} bytes) runs past the end")
    return data[pos : pos + size], pos + size


def _read_raw_headers(data: bytes, pos: int) -> tuple[list[tuple[bytes, bytes]], int]:
    count = _read_u32(data, pos, "header count")
    pos += 4
    # Each header needs at least 8 bytes: refuse absurd counts before looping.
    if count * 8 > len(data) - pos:
        raise WireError(f"the header count {count} runs past the end")
    headers: list[tuple[bytes, bytes]] = []
    for _ in range(count):
        name, pos = _read_bytes(data, pos, "header name")
        value, pos = _read_bytes(data, pos, "header value")
        headers.append((name, value))
    return headers, pos


def _read_headers(data: bytes, pos: int) -> tuple[list[tuple[str, str]], int]:
    raw, pos = _read_raw_headers(data, pos)
    return [(_text(name), _text(value)) for name, value in raw], pos


def _read_body(data: bytes, pos: int) -> bytes:
    body, pos = _read_bytes(data, pos, "body")
    if pos != len(data):
        raise WireError(f"{len(data) - pos} bytes are left over after the body")
    return bytes(body)


def _put_headers(add: Callable[[bytes], None], headers: list[tuple[str, str]]) -> None:
    add(_pack_u32(len(headers)))
    for name, value in headers:
        raw_name = _raw(name)
        raw_value = _raw(value)
        add(_pack_u32(len(raw_name)))
        add(raw_name)
        add(_pack_u32(len(raw_value)))
        add(raw_value)


def encode_wire_request(
    method: bytes, uri: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes
) -> bytes:
    """A request in the wire format from its bytes (the ingress has the client's bytes already)."""
    # Hot path: one flat list and a single join, extended by a tuple per field (one C call, not four).
    parts = [_pack_u32(len(method)), method, _pack_u32(len(uri)), uri, _pack_u32(len(headers))]
    for name, value in headers:
        parts += (_pack_u32(len(name)), name, _pack_u32(len(value)), value)
    parts += (_pack_u32(len(body)), body)
    return b"".join(parts)


def encode_request(req: GuestRequest) -> bytes:
    return encode_wire_request(
        _raw(req.method), _raw(req.uri), [(_raw(name), _raw(value)) for name, value in req.headers], req.body
    )


def decode_wire_request(data: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    """(method, uri, header fields, body) of a request in the wire format, as the bytes they are
    (for hosts that keep bytes: a component's incoming request); raises WireError."""
    method, pos = _read_bytes(data, 0, "method")
    uri, pos = _read_bytes(data, pos, "uri")
    headers, pos = _read_raw_headers(data, pos)
    return method, uri, headers, _read_body(data, pos)


def decode_request(data: bytes) -> GuestRequest:
    """Parse a guest's outbound request (http_fetch); raises WireError."""
    method, uri, headers, body = decode_wire_request(data)
    return GuestRequest(_text(method), _text(uri), [(_text(n), _text(v)) for n, v in headers], body)


def encode_response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    parts: list[bytes] = [_pack_u32(status)]
    _put_headers(parts.append, headers)
    parts.append(_pack_u32(len(body)))
    parts.append(body)
    return b"".join(parts)


def _decode_fast(data: bytes, max_header_bytes: int) -> tuple[int, list[tuple[str, str]], bytes, int] | None:
    """The per-request parse: no messages built; None when anything is off (the careful parse explains).
    The last item is where the header fields end (the body's length follows)."""
    try:
        status, count = _unpack_2u32(data, 0)
        if status not in FINAL_STATUS or count * 8 > len(data) - 8:
            return None
        pos = 8
        headers = []
        for _ in range(count):
            size = _unpack_u32(data, pos)[0]
            name = data[pos + 4 : pos + 4 + size].decode("utf-8", "surrogateescape")
            pos += 4 + size
            size = _unpack_u32(data, pos)[0]
            value = data[pos + 4 : pos + 4 + size].decode("utf-8", "surrogateescape")
            pos += 4 + size
            if not (name in _COMMON_NAMES or TOKEN(name)) or not (
                value.isprintable() or field_value_ok(value)
            ):
                return None
            headers.append((name, value))
        size = _unpack_u32(data, pos)[0]
    except struct.error:  # a length ran past the end, so a later read started beyond it
        return None
    # The header bytes are the wire bytes less the lengths, status, count and body.
    if pos - 8 - 8 * count + _FIELD_OVERHEAD * count > max_header_bytes:
        return None
    if pos + 4 + size != len(data):
        return None
    return status, headers, data[pos + 4 :], pos


def _field_problem(name: str, value: str) -> str | None:
    if not TOKEN(name):
        return f"the header name {name!r} is not an RFC 9110 token (letters, digits and !#$%&'*+-.^_`|~)"
    if not field_value_ok(value):
        return f"the value of header {name!r} holds a control character RFC 9110 §5.5 forbids: {value!r}"
    return None


def _check_status(status: int) -> None:
    if status not in FINAL_STATUS:
        raise WireError(f"status {status} is outside 200..599 (a guest gives final responses, never 1xx)")


def _check_fields(headers: list[tuple[str, str]], max_header_bytes: int) -> None:
    size = 0
    for name, value in headers:
        problem = _field_problem(name, value)
        if problem is not None:
            raise WireError(problem)
        size += len(_raw(name)) + len(_raw(value)) + _FIELD_OVERHEAD
    if size > max_header_bytes:
        raise WireError(
            f"the header fields take {size} bytes, over the {max_header_bytes} a response may have"
        )


def _decode_careful(data: bytes, max_header_bytes: int) -> tuple[int, list[tuple[str, str]], bytes]:
    status = _read_u32(data, 0, "status")
    _check_status(status)
    headers, pos = _read_headers(data, 4)
    _check_fields(headers, max_header_bytes)
    return status, headers, _read_body(data, pos)


def check_response(status: int, headers: list[tuple[str, str]], max_header_bytes: int) -> None:
    """What `decode_response` checks, for a response a host holds as values (a component's):
    InvokeError `bad_response` when it is not valid HTTP or its fields take too many bytes."""
    try:
        _check_status(status)
        _check_fields(headers, max_header_bytes)
    except WireError as exc:
        raise InvokeError("bad_response", f"the guest returned a malformed response: {exc}") from None


class FieldsMemo:
    """The header fields of the last response a function's instances decoded, as wire bytes (from
    the field count to the body's length) and as checked fields. Most functions answer the same
    fields every time, so the next response whose bytes match skips their parse, checks and
    allocation: its fields are the same list (callers never change a response's fields). One
    tuple, replaced whole, so instances on several guest threads may share it."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[bytes, list[tuple[str, str]]] = (b"", [])


def decode_response(
    data: bytes, max_header_bytes: int = MAX_HEADER_BYTES, memo: FieldsMemo | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, header fields, body) of a guest's response; InvokeError `bad_response` when it is not
    valid HTTP (module docstring) or its header fields take more than `max_header_bytes`. With a
    `memo` (one per function version, whose bound it is), fields equal to the last response's,
    byte for byte, are not parsed again."""
    if memo is not None:
        raw, fields = memo.last
        end = 4 + len(raw)
        if raw and data[4:end] == raw and len(data) >= end + 4:
            status = _unpack_u32(data, 0)[0]
            if status in FINAL_STATUS and end + 4 + _unpack_u32(data, end)[0] == len(data):
                return status, fields, data[end + 4 :]
    decoded = _decode_fast(data, max_header_bytes)
    if decoded is not None:
        status, fields, body, end = decoded
        if memo is not None:
            memo.last = (data[4:end], fields)
        return status, fields, body
    try:
        return _decode_careful(data, max_header_bytes)
    except WireError as exc:
        raise InvokeError("bad_response", f"the guest returned a malformed response: {exc}") from None
