"""What HTTP allows on the wire (RFC 9110, RFC 9112), checked where the runner reads or writes a message.

Clients choose the Host and Transfer-Encoding lines that decide routing and framing; guests choose
status codes and header fields that reach clients byte for byte. These are the runner's checks on
both, cheap enough for every request: precompiled patterns and C-level string tests.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2 `token`: what a field name (§5.1) and a method (§9.1) are made of.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
# RFC 9110 §5.5: a field value is field-vchar (VCHAR, obs-text), SP and HTAB; every other control
# character (CR, LF and NUL among them) is forbidden. Non-ASCII text is UTF-8, i.e. obs-text bytes.
_FIELD_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search
# RFC 9112 §3.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ]; uri-host is an IP-literal in
# brackets, an IPv4 address or a reg-name (unreserved, sub-delims); never empty here, since RFC
# 9110 §4.2.1 makes an "http" URI with an empty host invalid. Narrower than RFC 3986 on purpose:
# a percent-encoded reg-name (`shop%2eexample.com`) or an empty label (`a..example.com`) names a
# host other parsers read differently from the runner's routing, so either is refused (400)
# rather than routed past the owner of the host it spells.
_LABEL = rb"[0-9A-Za-z_~!$&'()*+,;=-]+"
_HOST = re.compile(
    rb"(?:\[[0-9A-Za-z:.%_~-]+\]|" + _LABEL + rb"(?:\." + _LABEL + rb")*\.?)(?::[0-9]*)?"
).fullmatch
# RFC 9110 §8.6 lets a Content-Length be any number of digits but asks recipients to guard against
# overflow; 2^63-1 is the largest a signed 64-bit parser (Go, Java, Node) reads, so the runner
# never relays a larger one.
MAX_CONTENT_LENGTH = 2**63 - 1
# HTTP/1.0 as granian names it ("1") and as ASGI does; Host is optional before HTTP/1.1.
HTTP10 = frozenset({"1", "1.0"})
# RFC 9110 §15: a final response's status; 1xx are interim answers a handler cannot give (docs/abi.md).
FINAL_STATUS = range(200, 600)


def field_value_ok(value: str) -> bool:
    """RFC 9110 §5.5: no control character but HTAB. `value` is text whose characters above U+007F are
    sent as UTF-8 (bytes 0x80-0xFF, obs-text); SP and HTAB at either end are the field line's OWS."""
    return value.isprintable() or _FIELD_CONTROL(value) is None


def host_ok(value: bytes) -> bool:
    """A Host field value the runner can route by (RFC 9112 §3.2): `uri-host [":" port]`, not empty."""
    return _HOST(value) is not None


def transfer_coding_problem(codings: bytes) -> tuple[int, str] | None:
    """(status, reason) when a request's Transfer-Encoding (all its lines, comma-joined) is one the
    runner cannot read, else None.

    RFC 9112 §6.1: chunked is the coding every HTTP/1.1 recipient understands, applied at most once;
    a coding the server does not understand SHOULD get 501. The HTTP server already answered 400 when
    chunked is not the final coding (§6.3), so what is left is chunked applied twice (400) or
    another coding before it (501): the runner hands bodies to guests as sent, never decoded.
    """
    names = [name.strip().lower() for name in codings.split(b",")]
    if names == [b"chunked"]:
        return None
    if all(name == b"chunked" for name in names):
        return 400, "the chunked transfer coding is applied more than once (RFC 9112 §6.1)"
    other = next(name for name in names if name != b"chunked").decode("latin-1")
    return 501, f"the transfer coding {other!r} is not supported; send the body with chunked alone"


def request_problem(
    http_version: str, method: str, hosts: int, host: bytes, codings: bytes | None
) -> tuple[int, str] | None:
    """(400 or 501, why) for a request the runner refuses before routing, or None.

    - Host (RFC 9112 §3.2): HTTP/1.1 and HTTP/2 need exactly one valid, non-empty value (granian
      passes a missing Host as an empty one, or as the authority of an absolute-form target);
      HTTP/1.0 may omit it. More than one Host line is 400 in every version.
    - CONNECT (RFC 9110 §9.3.6) asks a proxy for a tunnel: the runner is none (501).
    - Transfer-Encoding: `transfer_coding_problem`.
    """
    if hosts > 1:
        return 400, f"the request has {hosts} Host fields; RFC 9112 §3.2 allows one"
    if not host:
        if http_version not in HTTP10:
            return 400, "the request has no Host, or an empty one (RFC 9112 §3.2)"
    elif not host_ok(host):
        return 400, f"the Host {host.decode('latin-1')!r} is not host[:port] (RFC 9112 §3.2)"
    if method == "CONNECT":
        return 501, "CONNECT is for proxies; the runner serves functions, not tunnels"
    return None if codings is None else transfer_coding_problem(codings)


def response_framing(
    status: int, head: bool, body: bytes, declared: bytes | None
) -> tuple[bytes, bytes | None]:
    """What to send for an answer: (content, Content-Length value or None for no such field).

    - 204 and 304: no content and no Content-Length. RFC 9112 §6.3 ends both at the header section
      whatever their fields say; RFC 9110 §8.6 forbids Content-Length on a 204 and allows it on a
      304 only if it equals the length a 200 would have had, which the runner cannot know.
    - 205: no content (RFC 9110 §15.3.6), framed by `Content-Length: 0` since RFC 9112 §6.3 does
      not end a 205 at its header section.
    - HEAD (RFC 9110 §9.3.2): no content. Content-Length is what a GET would have sent (§8.6): the
      length of the body the guest returned; when it returned none, its own Content-Length
      (`declared`, digits only), else no Content-Length at all.
    - anything else: `body`, with its length.
    """
    if status == 204 or status == 304:
        return b"", None
    if status == 205:
        return b"", b"0"
    length = str(len(body)).encode() if body or not head else declared
    return (b"" if head else body), length


def content_length_ok(value: bytes) -> bool:
    """RFC 9110 §8.6: Content-Length = 1*DIGIT (bytes.isdigit is ASCII-only)."""
    return value.isdigit()
