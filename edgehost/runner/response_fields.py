"""What the runner relays of the header fields a guest or a plugin puts on a response: the
framing and the connection are the runner's (RFC 9110 §6.6.2, §7.6.1), and a value no client
parser can read is the guest's fault (`bad_response`), never the client's problem."""

from __future__ import annotations

import logging

from edgehost.http_rules import MAX_CONTENT_LENGTH, TOKEN, content_length_ok, field_value_ok
from edgehost.runtime import InvokeError
from edgehost.runtime.codec import TEXT_CODEC

log = logging.getLogger("edgefn.ingress")

# What a guest may not say to a client, whatever the letter case; a guest's copy is dropped:
# - the framing the runner owns: Content-Length (computed from what is sent; `response_framing`),
#   Transfer-Encoding, and Trailer, which announces trailer fields a Content-Length-framed answer
#   never carries (RFC 9110 §6.6.2);
# - the connection-specific fields of RFC 9110 §7.6.1 (Connection, Keep-Alive, TE, Upgrade, and
#   the obsolete Proxy-Connection): the connection is the runner's, not the guest's;
# - every Proxy-* field (`DROPPED_GUEST_PREFIX`): a guest is an origin, and Proxy-Authenticate,
#   Proxy-Authentication-Info or Proxy-Status would claim an intermediary said them;
# - X-Request-Id, which the runner sets.
DROPPED_GUEST_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "trailer",
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "x-request-id",
    }
)
DROPPED_GUEST_PREFIX = "proxy-"


def relayed_fields(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """A guest's header fields as sent, less the dropped ones; all valid (the codec refused the rest
    as `bad_response`)."""
    return [
        (k.encode(*TEXT_CODEC), v.encode(*TEXT_CODEC))
        for k, v in fields
        if (name := k.lower()) not in DROPPED_GUEST_HEADERS and not name.startswith(DROPPED_GUEST_PREFIX)
    ]


class RelayedFields:
    """`relayed_fields` of one deployment's responses, built once per fields list: its instances
    answer the same list for the same fields (the runtime's FieldsMemo), so a function whose
    fields never change builds their bytes once. Only the last list is kept."""

    __slots__ = ("_fields", "_relayed")

    def __init__(self) -> None:
        self._fields: list[tuple[str, str]] | None = None
        self._relayed: list[tuple[bytes, bytes]] = []

    def __call__(self, fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
        """A new list each time: the answer's own fields (the request id, plugins') follow."""
        if fields is not self._fields:
            self._relayed = relayed_fields(fields)
            self._fields = fields
        return self._relayed.copy()


def declared_length(fields: list[tuple[str, str]]) -> bytes | None:
    """The guest's own Content-Length, relayed to HEAD (`response_framing`): its one value if made of
    digits, else None (not relayed). InvokeError `bad_response` for digits above MAX_CONTENT_LENGTH,
    which the runner would otherwise hand to clients whose parsers overflow (RFC 9110 §8.6)."""
    values = [v.encode(*TEXT_CODEC) for k, v in fields if k.lower() == "content-length"]
    if len(values) != 1 or not content_length_ok(values[0]):
        return None
    if int(values[0]) > MAX_CONTENT_LENGTH:
        raise InvokeError(
            "bad_response",
            f"the guest's Content-Length {values[0].decode()} is above {MAX_CONTENT_LENGTH}, "
            "the largest a client can read",
        )
    return values[0]


def plugin_fields(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Plugins' response headers as bytes (Latin-1, as ASGI has them); one that is not a valid field
    (RFC 9110 §5) is dropped and logged, as the HTTP server would answer its own plain-text 500."""
    valid = []
    for name, value in fields:
        if TOKEN(name) and field_value_ok(value):
            try:
                valid.append((name.encode("latin-1"), value.encode("latin-1")))
                continue
            except UnicodeEncodeError:
                pass
        log.error("a plugin added the invalid response header %r: %r; dropped", name, value)
    return valid
