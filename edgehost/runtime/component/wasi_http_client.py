"""wasi:http 0.2, client side: `outgoing-handler.handle` and the outgoing request, request options,
future response and incoming response of `wasi:http/types`.

A request goes out through the same allow-list and resolved-address guard as ABI v1's
`edgefn.http_fetch` (egress.fetch), bounded by the invocation's deadline and
`runner.max_fetch_bytes`; the responses of one invocation together hold at most the function's
memory (`ComponentState.max_bytes`), since the host keeps their bodies until the request ends
where ABI v1 copies each into guest memory (more is `HTTP-response-body-size`). A request is
sent when the guest first asks for the response (the future's
`subscribe` or `get`), so a body written after `handle` and finished goes with it. A refused or
failed request is an HTTP `error-code` in the future's result (`HTTP-request-denied` for the
guard), and the guard refuses before anything reaches the network.
"""

from __future__ import annotations

import time
from typing import Any, cast

from wasmtime.component import Variant

from .. import egress
from ..codec import TEXT_CODEC
from ..types import GuestRequest
from .state import ComponentState, Handle, Handler
from .values import NONE, case, err, ok, some
from .wasi_http import Fields, IncomingBody, OutgoingBody
from .wasi_io import Pollable

_ERRORS = {
    egress.DENIED: "HTTP-request-denied",
    egress.MALFORMED: "HTTP-request-URI-invalid",
    egress.TIMEOUT: "connection-timeout",
    egress.NETWORK: "connection-refused",
    egress.TOO_LARGE: "HTTP-response-body-size",
}


class OutgoingRequest:
    __slots__ = ("authority", "body", "headers", "method", "path", "scheme")

    def __init__(self, headers: Fields, limit: int) -> None:
        self.headers = headers
        self.method: Variant = case("get")
        self.scheme: Variant = NONE
        self.authority: Variant = NONE
        self.path: Variant = NONE
        self.body = OutgoingBody(limit)


class RequestOptions:
    """Timeouts a guest may set; the invocation's deadline bounds every wait regardless."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, Variant] = {}


class IncomingResponse:
    __slots__ = ("body", "consumed", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.consumed = False


class FutureResponse:
    """The response to `request`, fetched when first asked for; `get` hands it out once."""

    __slots__ = ("outcome", "request", "taken")

    def __init__(self, request: OutgoingRequest) -> None:
        self.request = request
        self.outcome: Variant | None = None
        self.taken = False

    def resolve(self, state: ComponentState) -> Variant:
        """ok(IncomingResponse) or err(error-code), fetching on the first call."""
        if self.outcome is None:
            self.outcome = _send(state, self.request)
        return self.outcome


def _text(value: Variant, names: dict[str, str] | None = None) -> str:
    if value.tag == "other":
        return cast(str, value.payload)
    return names.get(value.tag, value.tag) if names else value.tag.upper()


def _send(state: ComponentState, request: OutgoingRequest) -> Variant:
    ctx = state.invocation()
    scheme = "https"  # as wasmtime's own wasi:http when the guest sets none
    if request.scheme.tag == "some":
        scheme = _text(cast(Variant, request.scheme.payload), {"HTTP": "http", "HTTPS": "https"})
    authority = cast(str, request.authority.payload) if request.authority.tag == "some" else ""
    path = cast(str, request.path.payload) if request.path.tag == "some" else "/"
    method = _text(request.method)
    uri = f"{scheme}://{authority}{path}"
    headers = [(name, value.decode(*TEXT_CODEC)) for name, value in request.headers.entries]
    started = time.perf_counter()
    room = state.max_bytes - state.fetched
    try:
        if room <= 0:
            raise egress.FetchRefused(
                egress.TOO_LARGE, f"this request's responses already hold {state.fetched} bytes, its memory"
            )
        status, fields, body = egress.fetch(
            GuestRequest(method, uri, headers, bytes(request.body.data)),
            allow=ctx.spec.http_allow,
            deadline=ctx.deadline,
            max_bytes=min(ctx.max_fetch_bytes, room),
        )
        state.fetched += len(body) + sum(len(name) + len(value) for name, value in fields)
    except egress.FetchRefused as exc:
        ctx.log(0, f"outgoing request {method} {uri} refused ({_ERRORS.get(exc.code)}): {exc}", "log")
        code = _ERRORS.get(exc.code, "internal-error")
        if code == "HTTP-response-body-size":
            return err(case(code, NONE))
        return err(case(code)) if code != "internal-error" else err(case(code, some(str(exc))))
    finally:
        ctx.waited += time.perf_counter() - started
    return ok(IncomingResponse(status, [(n.lower(), v.encode(*TEXT_CODEC)) for n, v in fields], body))


def _request_new(state: ComponentState, headers: Handle) -> Any:
    fields = state.take(headers, Fields)
    fields.mutable = False
    return state.own(OutgoingRequest(fields, state.max_bytes), "outgoing-request")


def _request_body(state: ComponentState, self: Handle) -> Variant:
    body = state.get(self, OutgoingRequest).body
    if body.taken:
        return err()
    body.taken = True
    return ok(state.own(body, "outgoing-body"))


def _getter(field: str) -> Handler:
    def get(state: ComponentState, self: Handle) -> Variant:
        return cast(Variant, getattr(state.get(self, OutgoingRequest), field))

    return get


def _setter(field: str) -> Handler:
    def set_(state: ComponentState, self: Handle, value: Variant) -> Variant:
        setattr(state.get(self, OutgoingRequest), field, value)
        return ok()

    return set_


def _request_headers(state: ComponentState, self: Handle) -> Any:
    return state.own(state.get(self, OutgoingRequest).headers, "fields")


def _options_new(state: ComponentState) -> Any:
    return state.own(RequestOptions(), "request-options")


def _option(name: str) -> Handler:
    def get(state: ComponentState, self: Handle) -> Variant:
        return state.get(self, RequestOptions).values.get(name, NONE)

    return get


def _set_option(name: str) -> Handler:
    def set_(state: ComponentState, self: Handle, value: Variant) -> Variant:
        state.get(self, RequestOptions).values[name] = value
        return ok()

    return set_


def _status(state: ComponentState, self: Handle) -> int:
    return state.get(self, IncomingResponse).status


def _response_headers(state: ComponentState, self: Handle) -> Any:
    return state.own(Fields(state.get(self, IncomingResponse).headers, mutable=False), "fields")


def _consume(state: ComponentState, self: Handle) -> Variant:
    response = state.get(self, IncomingResponse)
    if response.consumed:
        return err()
    response.consumed = True
    return ok(state.own(IncomingBody(response.body), "incoming-body"))


def _future_subscribe(state: ComponentState, self: Handle) -> Any:
    state.get(self, FutureResponse).resolve(state)
    return state.own(Pollable(), "pollable")


def _future_get(state: ComponentState, self: Handle) -> Variant:
    future = state.get(self, FutureResponse)
    if future.taken:
        return some(err())
    outcome = future.resolve(state)
    future.taken = True
    if outcome.tag == "err":
        return some(ok(outcome))
    return some(ok(ok(state.own(outcome.payload, "incoming-response"))))


def _handle(state: ComponentState, request: Handle, options: Variant) -> Variant:
    outgoing = state.take(request, OutgoingRequest)
    if options.tag == "some":
        state.take(cast(Handle, options.payload), RequestOptions)
    return ok(state.own(FutureResponse(outgoing), "future-incoming-response"))


TYPES: dict[str, Handler] = {
    "[constructor]outgoing-request": _request_new,
    "[method]outgoing-request.body": _request_body,
    "[method]outgoing-request.headers": _request_headers,
    **{
        f"[method]outgoing-request.{name}": _getter(field)
        for name, field in (
            ("method", "method"),
            ("path-with-query", "path"),
            ("scheme", "scheme"),
            ("authority", "authority"),
        )
    },
    **{
        f"[method]outgoing-request.set-{name}": _setter(field)
        for name, field in (
            ("method", "method"),
            ("path-with-query", "path"),
            ("scheme", "scheme"),
            ("authority", "authority"),
        )
    },
    "[constructor]request-options": _options_new,
    **{
        f"[method]request-options.{name}": _option(name)
        for name in ("connect-timeout", "first-byte-timeout", "between-bytes-timeout")
    },
    **{
        f"[method]request-options.set-{name}": _set_option(name)
        for name in ("connect-timeout", "first-byte-timeout", "between-bytes-timeout")
    },
    "[method]incoming-response.status": _status,
    "[method]incoming-response.headers": _response_headers,
    "[method]incoming-response.consume": _consume,
    "[method]future-incoming-response.subscribe": _future_subscribe,
    "[method]future-incoming-response.get": _future_get,
}
OUTGOING_HANDLER: dict[str, Handler] = {"handle": _handle}
