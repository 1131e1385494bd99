from __future__ import annotations

import random
import struct

import pytest

from edgehost.runtime import GuestRequest, InvokeError, decode_response, encode_request
from edgehost.runtime.codec import WireError, _decode_careful, _decode_fast, decode_request, encode_response


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


def test_the_fast_decoder_agrees_with_the_careful_one_on_mangled_responses() -> None:
    good = encode_response(200, [("a", "b"), ("é", "x")], b"body")
    rnd = random.Random(7)
    for _ in range(5000):
        data = bytearray(good)
        if rnd.random() < 0.5:
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        else:
            del data[rnd.randrange(len(data)) :]
        fast = _decode_fast(bytes(data))
        if fast is not None:
            assert fast == _decode_careful(bytes(data))
