"""The HTTP rules the runner applies (edgehost/http_rules.py), case by case against the RFC text."""

from __future__ import annotations

import pytest

from edgehost.http_rules import (
    content_length_ok,
    field_value_ok,
    host_ok,
    response_framing,
    transfer_coding_problem,
)


@pytest.mark.parametrize("status", range(200, 600))
def test_every_final_status_is_framed(status: int) -> None:
    for head in (False, True):
        content, length = response_framing(status, head, b"hello", None)
        if status in (204, 304):  # RFC 9112 §6.3: ends at the header section; §8.6: no Content-Length
            assert (content, length) == (b"", None)
        elif status == 205:  # RFC 9110 §15.3.6: no content, and 205 needs framing (Content-Length: 0)
            assert (content, length) == (b"", b"0")
        elif head:  # RFC 9110 §9.3.2, §8.6: the length a GET would have had, no content
            assert (content, length) == (b"", b"5")
        else:
            assert (content, length) == (b"hello", b"5")


def test_head_without_a_body_sends_the_guests_length_or_none() -> None:
    assert response_framing(200, True, b"", b"42") == (b"", b"42")
    assert response_framing(200, True, b"", None) == (b"", None)
    assert response_framing(200, False, b"", b"42") == (b"", b"0")  # GET: the length of what is sent


@pytest.mark.parametrize(
    ("codings", "expected"),
    [
        (b"chunked", None),
        (b"Chunked ", None),
        (b"chunked, chunked", 400),
        (b"chunked,chunked", 400),
        (b"gzip, chunked", 501),
        (b"gzip,chunked", 501),  # two Transfer-Encoding lines, as the ingress joins them
        (b"identity, chunked", 501),
    ],
)
def test_only_one_chunked_coding_is_read(codings: bytes, expected: int | None) -> None:
    problem = transfer_coding_problem(codings)
    assert (problem and problem[0]) == expected


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (b"example.com", True),
        (b"example.com:8080", True),
        (b"example.com:", True),  # port = *DIGIT
        (b"127.0.0.1", True),
        (b"[::1]:8080", True),
        (b"[fe80::1%25eth0]", True),
        (b"xn--caf-dma.example", True),
        (b"a_b~c!$&'()*+,;=.example", True),  # reg-name: unreserved and sub-delims
        (b"", False),
        (b"a b", False),
        (b"a/b", False),
        (b"user@a", False),
        (b"a:b:c", False),
        (b"a:80x", False),
        (b"caf\xc3\xa9.example", False),
        (b"[::1", False),
        (b"a\x00", False),
        (b"shop%2eexample.com", False),  # spells another host than routing would read
        (b"a..example.com", False),
        (b".example.com", False),
        (b"example.com.", True),  # the root's trailing dot
    ],
)
def test_host_is_uri_host_and_port(host: bytes, ok: bool) -> None:
    assert host_ok(host) is ok


def test_field_values_allow_visible_text_sp_htab_and_obs_text_only() -> None:
    allowed = {0x09, *range(0x20, 0x7F)}
    for code in range(0x80):
        assert field_value_ok(f"a{chr(code)}b") is (code in allowed), code
    assert field_value_ok("caf\u00e9 \u2603 \udcff")  # UTF-8 and raw bytes 0x80-0xFF: obs-text
    assert field_value_ok("")


@pytest.mark.parametrize(
    ("value", "ok"), [(b"0", True), (b"42", True), (b"", False), (b"4x", False), (b"+1", False)]
)
def test_content_length_is_digits(value: bytes, ok: bool) -> None:
    assert content_length_ok(value) is ok
