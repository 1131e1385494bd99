"""echo_py: a wasi:http/proxy component in Python (componentize-py) for edgefn's tests.

Every answer carries what the guest saw, as response headers:
  x-echo-method, x-echo-path (path with query), x-echo-authority, x-echo-count (requests this
  instance has served, counting this one: 1 on a fresh instance), and each request header NAME
  as x-echo-header-NAME (values of a repeated header joined with ", ").

The query's `do` picks what it does (other query keys are its arguments):
  (none)           200, the request body streamed back as it is read (chunks of `chunk` bytes,
                   default 4096, the most one blocking-write-and-flush takes).
  do=stream        200, `size` bytes (default 1048576) of the pattern bytes(range(256)) repeated,
                   written in chunks of `chunk` bytes; the request body is not read.
  do=status        answers status `code` (default 200) with an empty body.
  do=print         writes `text` to stdout and "err:" + `text` to stderr, then 200 "printed".
  do=env           200 with the value of environment variable `name` from
                   wasi:cli/environment (and x-echo-os-environ: the value os.environ has, or
                   "<unset>"), 404 "unset" if the host does not set it.
  do=fetch         GETs `url` through wasi:http/outgoing-handler: answers the fetched status
                   and body (x-echo-fetched: yes); a refused or failed request answers 502 with
                   x-echo-error naming the error-code case (e.g. HttpRequestDenied) and its
                   payload in the body.
  do=sleep         blocks on a monotonic-clock pollable for `ms` milliseconds, then 200 "slept".
  do=alloc         holds `mb` MiB (default 64) while answering 200 "allocated"; past the
                   function's memory cap Python raises MemoryError, which is not caught (a trap).
  do=loop          runs forever (the host's deadline must end it).
  do=raise         raises RuntimeError("echo_py was asked to raise") before answering (a trap).
  do=raise-after   answers the head (200) and one body chunk "partial", then raises.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import environment, monotonic_clock, outgoing_handler, streams
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Get,
    Method_Other,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Https,
)

MAX_WRITE = 4096  # wasi:io/streams: blocking-write-and-flush takes at most 4096 bytes
PATTERN = bytes(range(256))
served = 0  # per instance: the test of instance reuse reads it back as x-echo-count


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        global served
        served += 1
        path = request.path_with_query() or "/"
        query = {k: v[-1] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}
        headers = _echo_headers(request, path)
        do = query.get("do", "")
        if do == "loop":
            while True:
                pass
        if do == "raise":
            raise RuntimeError("echo_py was asked to raise")
        if do == "stream":
            size = int(query.get("size", "1048576"))
            chunk = min(int(query.get("chunk", str(MAX_WRITE))), MAX_WRITE)
            _respond(response_out, 200, headers, _pattern(size, chunk))
        elif do == "status":
            _respond(response_out, int(query.get("code", "200")), headers, [])
        elif do == "print":
            text = query.get("text", "")
            print(text, flush=True)
            print("err:" + text, file=sys.stderr, flush=True)
            _respond(response_out, 200, headers, [b"printed"])
        elif do == "env":
            name = query.get("name", "")
            found = dict(environment.get_environment()).get(name)
            headers.append(("x-echo-os-environ", os.environ.get(name, "<unset>").encode()))
            if found is None:
                _respond(response_out, 404, headers, [b"unset"])
            else:
                _respond(response_out, 200, headers, [found.encode()])
        elif do == "fetch":
            status, extra, body = _fetch(query.get("url", ""))
            _respond(response_out, status, headers + extra, body)
        elif do == "sleep":
            monotonic_clock.subscribe_duration(int(query.get("ms", "0")) * 1_000_000).block()
            _respond(response_out, 200, headers, [b"slept"])
        elif do == "alloc":
            held = bytearray(int(query.get("mb", "64")) * 1024 * 1024)
            _respond(response_out, 200, headers, [b"allocated %d" % len(held)])
        elif do == "raise-after":
            _respond(response_out, 200, headers, _then_raise())
        else:
            chunk = min(int(query.get("chunk", str(MAX_WRITE))), MAX_WRITE)
            _respond(response_out, 200, headers, _request_body(request, chunk))


def _echo_headers(request: IncomingRequest, path: str) -> list[tuple[str, bytes]]:
    seen: dict[str, list[bytes]] = {}
    for name, value in request.headers().entries():
        seen.setdefault(name.lower(), []).append(value)
    echoed = [(f"x-echo-header-{name}", b", ".join(values)) for name, values in seen.items()]
    return [
        ("x-echo-method", _method_name(request).encode()),
        ("x-echo-path", path.encode()),
        ("x-echo-authority", (request.authority() or "").encode()),
        ("x-echo-count", str(served).encode()),
        *echoed,
    ]


def _method_name(request: IncomingRequest) -> str:
    method = request.method()
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()


def _request_body(request: IncomingRequest, chunk: int) -> Iterator[bytes]:
    """The request body as it arrives, `chunk` bytes at most at a time."""
    body = request.consume()
    with body.stream() as stream:
        while True:
            try:
                data = stream.blocking_read(chunk)
            except Err as exc:
                if isinstance(exc.value, streams.StreamError_Closed):
                    break
                raise
            if data:
                yield data
    IncomingBody.finish(body)


def _pattern(size: int, chunk: int) -> Iterator[bytes]:
    whole = PATTERN * (chunk // len(PATTERN) + 2)
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        start = sent % len(PATTERN)
        yield whole[start : start + n]
        sent += n


def _then_raise() -> Iterator[bytes]:
    yield b"partial"
    raise RuntimeError("echo_py was asked to raise after answering")


def _respond(
    response_out: ResponseOutparam, status: int, headers: list[tuple[str, bytes]], chunks: Iterable[bytes]
) -> None:
    """Sends the head, then streams `chunks` (an iterable of bytes) as the body."""
    response = OutgoingResponse(Fields.from_list(headers))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with body.write() as out:
        for data in chunks:
            for start in range(0, len(data), MAX_WRITE):
                out.blocking_write_and_flush(data[start : start + MAX_WRITE])
    OutgoingBody.finish(body, None)


def _fetch(url: str) -> tuple[int, list[tuple[str, bytes]], list[bytes]]:
    """GET `url` through the host: (status, extra headers, body) to answer with."""
    parts = urlsplit(url)
    request = OutgoingRequest(Fields())
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query(parts.path + (f"?{parts.query}" if parts.query else "") or "/")
    try:
        future = outgoing_handler.handle(request, None)
    except Err as exc:
        return _refused(exc.value)
    with future.subscribe() as ready:
        ready.block()
    outcome = future.get()  # some(ok(result)) once ready: the outer result is err only on a second get
    assert outcome is not None and isinstance(outcome, Ok)
    inner = outcome.value
    if isinstance(inner, Err):
        return _refused(inner.value)
    response = inner.value
    status = response.status()
    body = b"".join(_incoming_body(response.consume()))
    return status, [("x-echo-fetched", b"yes")], [body]


def _incoming_body(body: IncomingBody) -> Iterator[bytes]:
    with body.stream() as stream:
        while True:
            try:
                yield stream.blocking_read(65536)
            except Err as exc:
                if isinstance(exc.value, streams.StreamError_Closed):
                    break
                raise
    IncomingBody.finish(body)


def _refused(code: object) -> tuple[int, list[tuple[str, bytes]], list[bytes]]:
    name = type(code).__name__.removeprefix("ErrorCode_")
    return 502, [("x-echo-error", name.encode())], [repr(code).encode()]
