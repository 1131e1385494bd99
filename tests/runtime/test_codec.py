from __future__ import annotations

import random
import struct

import pytest

from edgehost.runtime import GuestRequest, InvokeError, decode_response, encode_request
from edgehost.runtime.codec import (
    MAX_HEADER_BYTES,
    FieldsMemo,
    WireError,
    _decode_careful,
    _decode_fast,
    decode_request,
    encode_response,
)


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def s(b: bytes) -> bytes:
    return u32(len(b)) + b


def test_request_layout_is_byte_exact() -> None:
    req = GuestRequest("GET", "/a?b=1", [("x-k", "v")], b"body")
    assert encode_request(req) == s(b"GET") + s(b"/a?b=1") + u32(1) + s(b"x-k") + s(b"v") + s(b"body")


def test_request_round_trip_including_non_utf8_bytes() -> None:
    req = GuestRequest("PUT", "/caf\u00e9", [("a", "1"), ("b", "\udcff")], b"\x00\xff")
    assert decode_request(encode_request(req)) == req


def test_response_round_trip() -> None:
    headers = [("content-type", "text/plain"), ("x-a", "")]
    assert decode_response(encode_response(201, headers, b"ok")) == (201, headers, b"ok")


GOOD = u32(200) + u32(1) + s(b"k") + s(b"v") + s(b"body")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (GOOD + b"x", "left over"),
        (GOOD[:-1], "runs past the end"),
        (u32(200) + u32(5) + s(b"k"), "header count 5"),
        (u32(200) + u32(1) + u32(99) + b"k", "runs past the end"),
        (u32(200) + u32(0) + u32(10) + b"abc", "body (10 bytes)"),
        (u32(99) + u32(0) + s(b""), "status 99"),
        (u32(600) + u32(0) + s(b""), "status 600"),
        (u32(100) + u32(0) + s(b""), "status 100 is outside 200..599"),
        (u32(101) + u32(0) + s(b""), "status 101 is outside 200..599"),
        (u32(103) + u32(0) + s(b""), "status 103 is outside 200..599"),
        (u32(200) + u32(1) + s(b"x-a") + s(b"b\r\nx-b: c") + s(b""), "control character"),
        (u32(200) + u32(1) + s(b"x-a") + s(b"\x00") + s(b""), "control character"),
        (u32(200) + u32(1) + s(b"x a") + s(b"v") + s(b""), "not an RFC 9110 token"),
        (u32(200) + u32(1) + s(b"") + s(b"v") + s(b""), "not an RFC 9110 token"),
        (u32(200) + u32(1) + s(b"x:a") + s(b"v") + s(b""), "not an RFC 9110 token"),
        (u32(200) + u32(1) + s(b"k") + s(b"v" * MAX_HEADER_BYTES) + s(b""), "over the 65536"),
        (b"\x01\x02", "status runs past"),
    ],
)
def test_malformed_responses_are_bad_response(data: bytes, fragment: str) -> None:
    with pytest.raises(InvokeError) as info:
        decode_response(data)
    assert info.value.code == "bad_response"
    assert fragment in info.value.message


def test_malformed_fetch_request_raises_wire_error() -> None:
    with pytest.raises(WireError):
        decode_request(s(b"GET") + u32(7))


def test_header_bytes_up_to_the_limit_pass() -> None:
    value = "v" * (MAX_HEADER_BYTES - len("k") - 4)  # `k: v...` and CRLF, exactly the limit
    assert decode_response(encode_response(200, [("k", value)], b""))[1] == [("k", value)]


def test_the_fast_decoder_agrees_with_the_careful_one_on_mangled_responses() -> None:
    """Whatever the bytes, both parsers accept the same responses (and the careful one explains the rest)."""
    good = encode_response(200, [("a", "b"), ("x-caf", "caf\u00e9\t ok")], b"body")
    rnd = random.Random(7)
    accepted = 0
    for _ in range(5000):
        data = bytearray(good)
        if rnd.random() < 0.5:
            data[rnd.randrange(len(data))] = rnd.choice((rnd.randrange(256), 0x0A, 0x7F, 0x20, 0x3A))
        else:
            del data[rnd.randrange(len(data)) :]
        try:
            careful = _decode_careful(bytes(data), MAX_HEADER_BYTES)
        except WireError:
            careful = None
        fast = _decode_fast(bytes(data), MAX_HEADER_BYTES)
        assert (fast[:3] if fast is not None else None) == careful
        accepted += careful is not None
    assert 0 < accepted < 5000  # both kinds were tried


def decoded_or_error(data: bytes, memo: FieldsMemo | None) -> object:
    try:
        return decode_response(data, MAX_HEADER_BYTES, memo)
    except InvokeError as exc:
        return exc.code, exc.message


def test_the_fields_memo_never_changes_an_answer() -> None:
    """An instance's memo of its last fields (FieldsMemo) gives what a fresh parse gives, whatever
    follows a remembered response: the same fields with another status or body, mangled bytes,
    other fields; and a response with the remembered fields takes them from the memo."""
    shapes = [
        encode_response(200, [("content-type", "text/plain")], b"Hello"),
        encode_response(404, [("content-type", "text/plain")], b"no"),
        encode_response(200, [("content-type", "text/plain"), ("x-a", "1")], b""),
        encode_response(200, [], b"bare"),
    ]
    rnd = random.Random(11)
    memo = FieldsMemo()
    hits = 0
    for _ in range(5000):
        data = bytearray(rnd.choice(shapes))
        if rnd.random() < 0.4:
            if rnd.random() < 0.5:
                data[rnd.randrange(len(data))] = rnd.choice((rnd.randrange(256), 0x0A, 0x00, 0x64, 0x01))
            elif rnd.random() < 0.5:
                del data[rnd.randrange(len(data)) :]
            else:
                data += b"x"
        remembered = memo.last[1]
        with_memo = decoded_or_error(bytes(data), memo)
        assert with_memo == decoded_or_error(bytes(data), None)
        if isinstance(with_memo, tuple) and with_memo[1] is remembered and remembered:
            hits += 1
    assert hits > 500  # the memo answered often


def test_the_fields_memo_keeps_the_status_and_length_checks() -> None:
    memo = FieldsMemo()
    fields = [("content-type", "text/plain")]
    assert decode_response(encode_response(200, fields, b"a"), MAX_HEADER_BYTES, memo) == (200, fields, b"a")
    for status in (100, 199, 600):  # remembered fields, status outside 200..599
        with pytest.raises(InvokeError, match=f"status {status}"):
            decode_response(encode_response(status, fields, b"a"), MAX_HEADER_BYTES, memo)
    with pytest.raises(InvokeError, match="left over"):
        decode_response(encode_response(200, fields, b"a") + b"!", MAX_HEADER_BYTES, memo)
