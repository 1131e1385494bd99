"""How edgefn reads a JSON request body: exactly as the control plane's OpenAPI document describes it.

One decoder for every body, behind Litestar routes (`JsonRequest`) and the heartbeat front alike:

- Types are JSON Schema's: `"16"` where the document declares an integer is a 400 (msgspec's strict
  mode), while `16.0` is an integer (JSON Schema 2020-12 section 6.1.1 of its validation vocabulary:
  a number with a zero fractional part) and is taken as 16; an integer where a number is declared is fine.
- A body with a key the schema does not list is a 400 where the schema says
  `additionalProperties: false` (the structs' `forbid_unknown_fields`).
- Duplicate keys in one object are a 400: RFC 8259 section 4 leaves their meaning to the receiver
  and I-JSON (RFC 7493 section 2.3) forbids them; a proxy that reads the first and a server that
  reads the last would act on different requests. JSON Schema cannot say this, so the API's
  description in the document does.

The body is decoded while the request's arguments are read, so a malformed or invalid body is
refused (400, or 413 when too large) before the credential is checked (401/403).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty

from edgehost.errors import ApiError, FieldError, empty_body_error

_FIELD_PATH = re.compile(r"`\$\.(.+)`$")  # where msgspec says a field error is, e.g. "... - at `$.a[0]`"


class DuplicateKey(ValueError):
    pass


def decode(body: bytes, type_: Any = Any) -> Any:
    """`body` as `type_` (a msgspec-supported type); ApiError 400 if it is empty, not JSON, not of
    that type, or repeats a key within an object."""
    if not body:
        raise empty_body_error()
    try:
        value = _typed(body, type_)
        _PAIRS.decode(body.decode())
    except msgspec.ValidationError as exc:
        raise ApiError(400, "bad_request", [field_error(str(exc))]) from None
    except DuplicateKey as exc:
        duplicate = FieldError(message=str(exc), key="data", source="body")
        raise ApiError(400, "bad_request", [duplicate]) from None
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "bad_request", f"the body is not JSON: {exc}") from None
    except RecursionError:  # both decoders stop at the interpreter's recursion limit; no schema nests so deep
        raise ApiError(400, "bad_request", "the body's arrays and objects are nested too deeply") from None
    return value


def _typed(body: bytes, type_: Any) -> Any:
    try:
        return _decoder(type_).decode(body)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise
    # Rare: a client wrote an integer as `16.0`. Decoded again with every integral float made an int.
    return msgspec.convert(_integral(msgspec.json.decode(body)), type_, strict=True)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


@cache
def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(type_)


def _unique(pairs: list[tuple[str, Any]]) -> None:
    """Refuses an object that repeats a key. msgspec has no such option, so the body is parsed a
    second time for this (about 13 us for a 1.2 kB heartbeat, a few % of its cost)."""
    if len(pairs) > 1 and len(dict(pairs)) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"Object has the key `{key}` more than once")
            seen.add(key)


_PAIRS = json.JSONDecoder(object_pairs_hook=_unique)


def field_error(message: str) -> FieldError:
    """msgspec's validation message as a FieldError: the message, the field it is about, `body`."""
    where = _FIELD_PATH.search(message)
    return FieldError(
        message=message.split(" - ", 1)[0], key=where.group(1) if where else "data", source="body"
    )


class JsonRequest(Request[Any, Any, Any]):
    """A Litestar request whose `json()` is `decode` into the handler's `data` type.

    Litestar's own decoding is lax (it converts `"16"` to 16) and keeps the last of duplicate keys;
    its signature model then takes the decoded struct as it is.
    """

    async def json(self) -> Any:
        if self._json is Empty:
            field = self.route_handler.parsed_data_field
            self._json = decode(await self.body(), field.annotation if field is not None else Any)
        return self._json
