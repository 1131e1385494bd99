"""The edge ingress: match, admit, invoke, answer. This is the per-request path of the product.

It is a raw ASGI callable: the listener's target itself, or mounted at `/` of the ingress
Litestar app when a plugin wraps user traffic (edgehost/runner/mount.py). Every path and
method belongs to user routes.

Where a guest runs (docs/runtime.md has the measurements): a hand-off to a thread costs
several hot invokes, so a function runs inline on the event loop while it proves short.
A function that may run long (a deadline above INLINE_MAX_MS, or outbound fetches that wait
on the network), or whose inline calls took longer than SLOW_INLINE_S twice running, the
second time in thread CPU time (so a preempted process proves nothing), runs on guest threads
from then on: a runaway burns its deadline there while the loop keeps answering (wasmtime
releases the GIL while guest code runs). The loop is thus stalled at most twice per function
version, by at most INLINE_MAX_MS each.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from random import getrandbits
from time import monotonic, perf_counter, thread_time
from urllib.parse import unquote

import msgspec

from edgehost.asgi import BodyTimeout, PayloadTooLarge, Receive, Scope, Send, read_body
from edgehost.contracts import Admission, InstancePool, Invocation, Rejection
from edgehost.plugins import per_request_calls
from edgehost.runner.node import NodeState
from edgehost.runtime import GuestResponse, InvokeError
from edgehost.runtime.codec import TEXT_CODEC, encode_wire_request  # client bytes reach the guest unchanged
from edgehost.runtime.workers import GuestThreads
from edgehost.settings import Runner

log = logging.getLogger("edgefn.ingress")

STATUS_OF = {"timeout": 504, "payload_too_large": 413, "quota_exceeded": 429, "rate_limited": 429}
DROPPED_GUEST_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "x-request-id"})
PARAM_PREFIX = b"x-edgefn-param-"
REQUEST_ID = b"x-request-id"
HTTP1 = frozenset({"1.0", "1.1"})
INLINE_MAX_MS = 50
SLOW_INLINE_S = 0.002
_json = msgspec.json.Encoder()


class Ingress:
    def __init__(
        self,
        node: NodeState,
        *,
        max_body_bytes: int,
        max_requests_in_flight: int,
        body_timeout_s: float,
        threads: int = 64,
    ) -> None:
        self.node = node
        self.hook = node.ctx.hook
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        # Requests between their head and their answer in this process, whatever they wait on
        # (body, guest, client); granian's own limit counts connections, idle ones included.
        self.in_flight = 0
        self.max_in_flight = max_requests_in_flight
        self._overloaded = Rejection(
            503,
            "overloaded",
            f"the runner is serving {max_requests_in_flight} requests already",
            [("retry-after", "1")],
        )
        self.admission: Admission | None = self.hook.edgehost_admission(ctx=node.ctx)
        self.threads = GuestThreads(threads)
        self._offloaded: set[tuple[str, int]] = set()  # function versions that proved slow inline
        self._suspects: set[tuple[str, int]] = set()  # their last inline call took long in wall time
        self._admit_hooks = per_request_calls(self.hook.edgehost_admit)
        self._started_hooks = per_request_calls(self.hook.edgehost_invocation_started)
        self._finished_hooks = per_request_calls(self.hook.edgehost_invocation_finished)

    @classmethod
    def from_settings(cls, node: NodeState, runner: Runner) -> Ingress:
        """The ingress as the `runner.*` settings bound it."""
        return cls(
            node,
            max_body_bytes=runner.max_body_bytes,
            max_requests_in_flight=runner.max_requests_in_flight,
            body_timeout_s=runner.body_timeout_s,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = f"{getrandbits(64):016x}"  # an id, not a secret: no urandom syscall per request
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        # For routing and logs only (the guest gets the bytes): UTF-8, raw or percent-encoded.
        path = raw_path.decode("utf-8", "replace")
        if "%" in path:
            path = unquote(path)
        method: str = scope["method"]
        headers: list[tuple[bytes, bytes]] = scope["headers"]  # passed to the guest as they came
        host = ""
        # HTTP/1 framing says whether a body follows; awaiting receive() for none costs a loop turn.
        has_body = scope.get("http_version", "1.1") not in HTTP1
        for name, value in headers:
            if name == b"host":
                host = value.decode(*TEXT_CODEC)
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                has_body = True
        inv = Invocation(
            request_id=request_id,
            node_id=self.node.node_id,
            method=method,
            host=host,
            path=path,
            start_timestamp=time.time(),
        )
        snapshot = self.node.snapshot
        match = snapshot.routes.lookup(host, method, path)
        if match is None:
            await self._error(send, inv, 404, "not_found", f"no route for {method} {path}", observe=False)
            return
        if isinstance(match, tuple):
            inv.response_headers.append(("allow", ", ".join(match)))
            await self._error(
                send, inv, 405, "method_not_allowed", f"{method} is not allowed here", observe=False
            )
            return
        live = snapshot.functions[match.route.function_id]
        inv.function_id = live.deployment.function_id
        inv.version = live.deployment.version
        inv.tenant = live.deployment.project
        if self.in_flight > self.max_in_flight:  # shed before reading a body or running a guest
            await self._reject(send, inv, self._overloaded)
            return
        try:
            body = await read_body(receive, self.max_body_bytes, self.body_timeout_s) if has_body else b""
        except BodyTimeout:
            # RFC 9110 §15.5.9: the connection is closed, since the rest of the body may still come.
            await self._reject(
                send,
                inv,
                Rejection(
                    408,
                    "request_timeout",
                    f"the request body did not arrive within {self.body_timeout_s:g} s",
                    [("connection", "close")],
                ),
            )
            return
        except PayloadTooLarge:
            await self._reject(
                send,
                inv,
                Rejection(
                    413, "payload_too_large", f"request bodies are limited to {self.max_body_bytes} bytes"
                ),
            )
            return
        if inv.tenant in snapshot.blocked:
            await self._reject(
                send,
                inv,
                Rejection(
                    429, "quota_exceeded", "the project used its daily CPU quota", [("retry-after", "3600")]
                ),
            )
            return
        rejection = self.admission.admit(inv) if self.admission is not None else None
        for admit in self._admit_hooks:  # firstresult: the first plugin to refuse answers
            if rejection is not None:
                break
            rejection = admit(inv)
        if rejection is not None:
            await self._reject(send, inv, rejection)
            return
        query = scope.get("query_string", b"")
        guest_headers = [(k, v) for k, v in headers if not k.startswith(PARAM_PREFIX) and k != REQUEST_ID]
        guest_headers.append((REQUEST_ID, request_id.encode()))
        for param, text in match.params:
            guest_headers.append((PARAM_PREFIX + param.encode(*TEXT_CODEC), text.encode(*TEXT_CODEC)))
        request = encode_wire_request(
            method.encode(), raw_path + b"?" + query if query else raw_path, guest_headers, body
        )
        for started in self._started_hooks:
            started(inv)
        try:
            response = await self._invoke(live.pool, request, request_id)
        except InvokeError as exc:
            inv.logs = exc.logs
            await self._error(send, inv, STATUS_OF.get(exc.code, 500), exc.code, exc.message)
            return
        except Exception as exc:  # a host bug must answer 500 and leave the runner serving
            log.exception("invocation of %s failed in the host", inv.function_id)
            await self._error(
                send, inv, 500, "instantiate_failed", f"the runner could not run the function: {exc}"
            )
            return
        inv.cpu_seconds = response.cpu_seconds
        inv.logs = response.logs
        inv.status = response.status
        out = [
            (k.encode(*TEXT_CODEC), v.encode(*TEXT_CODEC))
            for k, v in response.headers
            if k.lower() not in DROPPED_GUEST_HEADERS
        ]
        self._finish(inv)
        await self._respond(send, inv, response.status, out, response.body, omit_body=method == "HEAD")

    async def _invoke(self, pool: InstancePool, request: bytes, request_id: str) -> GuestResponse:
        spec = pool.spec
        key = (spec.function_id, spec.version)
        if spec.max_execution_ms > INLINE_MAX_MS or spec.http_allow or key in self._offloaded:
            # The limit starts now: waiting for a guest thread spends it too (40 runaways on 2 cores).
            deadline = monotonic() + spec.max_execution_ms / 1000
            return await self.threads.run(
                partial(pool.invoke, request, request_id=request_id, deadline=deadline)
            )
        # Wall time flags a slow call cheaply, but a preempted process makes any call look slow:
        # a suspect's next call is timed in thread CPU time too, which decides.
        suspect = key in self._suspects
        cpu = thread_time() if suspect else 0.0
        started = perf_counter()
        try:
            return pool.invoke(request, request_id=request_id)
        finally:
            if perf_counter() - started > SLOW_INLINE_S:
                if suspect and thread_time() - cpu > SLOW_INLINE_S:
                    self._offloaded.add(key)
                    log.info("%s v%s runs on guest threads from now on", *key)
                self._suspects.add(key)
            elif suspect:
                self._suspects.discard(key)

    def _finish(self, inv: Invocation) -> None:
        inv.end_timestamp = time.time()
        if self.admission is not None:
            self.admission.release(inv)
        if inv.cpu_seconds:
            self.node.add_usage(inv.tenant, inv.cpu_seconds)
        for finished in self._finished_hooks:
            try:
                finished(inv)
            except Exception:  # observers must never turn an answer into a failure, nor silence others
                log.exception("an invocation_finished hook failed")

    async def _reject(self, send: Send, inv: Invocation, rejection: Rejection) -> None:
        inv.response_headers.extend(rejection.headers)
        await self._error(send, inv, rejection.status, rejection.error_code, rejection.message)

    async def _error(
        self, send: Send, inv: Invocation, status: int, code: str, message: str, *, observe: bool = True
    ) -> None:
        inv.status = status
        if observe:
            inv.error_code, inv.error_message = code, message
            self._finish(inv)
        body = _json.encode({"error": code, "detail": message, "request_id": inv.request_id})
        await self._respond(send, inv, status, [(b"content-type", b"application/json")], body)

    @staticmethod
    async def _respond(
        send: Send,
        inv: Invocation,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        omit_body: bool = False,
    ) -> None:
        """Sends an answer with what every answer carries: the plugins' headers, the request id
        and the length of `body` (also when a HEAD request gets none of it)."""
        headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in inv.response_headers)
        headers.append((REQUEST_ID, inv.request_id.encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if omit_body else body})

    def close(self) -> None:
        self.threads.close()
