"""The edge ingress: match, admit, invoke, answer. This is the per-request path of the product.

It is a raw ASGI callable: the listener's target itself, or mounted at `/` of the ingress
Litestar app when a plugin wraps user traffic (edgehost/runner/mount.py). Every path and
method belongs to user routes.

Where a guest runs (docs/runtime.md has the measurements): a hand-off to a thread costs
several hot invokes, so a function runs inline on the event loop while it proves short.
A function that may run long (a deadline above INLINE_MAX_MS, or outbound fetches that wait
on the network), or whose inline calls took longer than SLOW_INLINE_S twice, the second time
in thread CPU time (so a preempted process proves nothing), runs on guest threads from then on:
a runaway burns its deadline there while the loop keeps answering (wasmtime releases the GIL
while guest code runs). Fast calls in between do not clear a slow one (a guest alternating slow
and fast calls would otherwise stay inline and stall every tenant's requests), so the loop is
stalled at most twice per function version, by at most INLINE_MAX_MS each.

What reaches a guest was read strictly (docs/runner.md, "HTTP at the ingress"): one valid Host
on HTTP/1.1 and HTTP/2, a body that arrived whole in a transfer coding the runner reads, no
CONNECT. What reaches a client is valid HTTP: the codec refuses what a guest may not say, and
`response_framing` decides content and Content-Length per status and method. Plugin calls on
this path follow the one policy of `edgehost.hookspecs`.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from random import getrandbits
from time import monotonic, perf_counter, thread_time
from urllib.parse import unquote

import msgspec

from edgehost.asgi import BodyTimeout, IncompleteBody, PayloadTooLarge, Receive, Scope, Send, read_body
from edgehost.contracts import Admission, InstancePool, Invocation, Rejection
from edgehost.http_rules import (
    FINAL_STATUS,
    TOKEN,
    content_length_ok,
    field_value_ok,
    host_ok,
    response_framing,
    transfer_coding_problem,
)
from edgehost.plugin_manager import per_request_calls, plugin_name
from edgehost.runner.node import NodeState
from edgehost.runtime import GuestResponse, InvokeError
from edgehost.runtime.codec import TEXT_CODEC, encode_wire_request  # client bytes reach the guest unchanged
from edgehost.runtime.workers import GuestThreads
from edgehost.settings import Runner

log = logging.getLogger("edgefn.ingress")

STATUS_OF = {"timeout": 504, "payload_too_large": 413, "quota_exceeded": 429, "rate_limited": 429}
# The framing the runner owns, the request id it sets, and the connection-specific fields an
# intermediary must not forward (RFC 9110 §7.6.1): a guest's copy of these is dropped.
DROPPED_GUEST_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "x-request-id",
    }
)
PARAM_PREFIX = b"x-edgefn-param-"
REQUEST_ID = b"x-request-id"
JSON = [(b"content-type", b"application/json")]
# granian names HTTP/1.0 "1"; both framings say whether a body follows.
HTTP1 = frozenset({"1", "1.0", "1.1"})
HTTP10 = frozenset({"1", "1.0"})
KNOWN_HOSTS = 1024
MAX_KNOWN_HOST = 260  # a 253-byte name and a port
# Statuses whose framing differs from "the body, with its length" (response_framing), as HEAD's does.
SPECIAL_FRAMING = frozenset({204, 205, 304})
INLINE_MAX_MS = 50
SLOW_INLINE_S = 0.002
_json = msgspec.json.Encoder()
# status, header fields, body, and the guest's own Content-Length (used for HEAD only)
Answer = tuple[int, list[tuple[bytes, bytes]], bytes, bytes | None]


class PluginFailed(Exception):
    """A plugin's call on the request path raised; answered 500 `plugin_failed`."""

    def __init__(self, plugin: str, hook: str) -> None:
        super().__init__(f"the runner's plugin {plugin!r} failed in {hook}")
        self.plugin = plugin
        self.hook = hook


def plugin_of(component: object) -> str:
    """The plugin that provided a component (route table, admission): its module's plugin name."""
    return plugin_name(type(component).__module__)


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
        self._admission_plugin = plugin_of(self.admission)
        self.threads = GuestThreads(threads)
        self._offloaded: set[tuple[str, int]] = set()  # function versions that proved slow inline
        self._suspects: set[tuple[str, int]] = set()  # their last inline call took long in wall time
        self._valid_hosts: set[bytes] = set()  # Host values that passed host_ok, at most KNOWN_HOSTS
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
        host = b""
        hosts = 0
        codings: bytes | None = None
        http_version = scope.get("http_version", "1.1")
        # HTTP/1 framing says whether a body follows; awaiting receive() for none costs a loop turn.
        has_body = http_version not in HTTP1
        for name, value in headers:
            if name == b"host":
                host = value
                hosts += 1
            elif name == b"transfer-encoding":
                has_body = True
                codings = value if codings is None else codings + b"," + value
            elif name == b"content-length" and value != b"0":
                has_body = True
        inv = Invocation(
            request_id=request_id,
            node_id=self.node.node_id,
            method=method,
            host=host.decode(*TEXT_CODEC),
            path=path,
            start_timestamp=time.time(),
        )
        try:
            if hosts == 1 and host in self._valid_hosts and codings is None and method != "CONNECT":
                problem = None  # the common case, a Host seen valid before: one set lookup
            else:
                problem = request_problem(http_version, method, hosts, host, codings)
                if problem is None and host:  # never the empty Host only HTTP/1.0 may send
                    self._remember_host(host)
            if problem is None:
                answer = await self._answer(scope, receive, inv, raw_path, headers, has_body)
            else:
                status, message = problem
                code = "bad_request" if status == 400 else "not_implemented"
                answer = self._error(inv, status, code, message, observe=False)
        except PluginFailed as exc:
            answer = self._plugin_failed(inv, exc)
        except Exception:  # a runner bug: still JSON with the request id, never the server's plain 500
            log.exception("the ingress failed on %s %s", method, path)
            answer = self._error(
                inv, 500, "internal_error", "the runner failed to answer; the failure is logged"
            )
        finally:
            if inv.admitted:  # the one place the slot goes back, whatever happened after admit
                inv.admitted = False
                try:
                    self.admission.release(inv)  # type: ignore[union-attr]  # admitted: there is one
                except Exception:  # reported; the answer stands
                    self._report(self._admission_plugin, "edgehost_admission", inv)
        await self._respond(send, inv, answer, head=method == "HEAD")

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        inv: Invocation,
        raw_path: bytes,
        headers: list[tuple[bytes, bytes]],
        has_body: bool,
    ) -> Answer:
        method = inv.method
        snapshot = self.node.snapshot
        routes = snapshot.routes
        try:  # the raw path: the router splits it into segments before any percent-decoding
            match = routes.lookup(inv.host, method, raw_path.decode("latin-1"))
        except Exception as exc:
            raise PluginFailed(plugin_of(routes), "edgehost_route_table") from exc
        if match is None:
            return self._error(inv, 404, "not_found", f"no route for {method} {inv.path}", observe=False)
        if isinstance(match, tuple):
            inv.response_headers.append(("allow", ", ".join(match)))
            return self._error(inv, 405, "method_not_allowed", f"{method} is not allowed here", observe=False)
        live = snapshot.functions[match.route.function_id]
        inv.function_id = live.deployment.function_id
        inv.version = live.deployment.version
        inv.tenant = live.deployment.project
        if self.in_flight > self.max_in_flight:  # shed before reading a body or running a guest
            return self._reject(inv, self._overloaded)
        try:
            body = await read_body(receive, self.max_body_bytes, self.body_timeout_s) if has_body else b""
        except BodyTimeout:
            # RFC 9110 §15.5.9: the connection is closed, since the rest of the body may still come.
            message = f"the request body did not arrive within {self.body_timeout_s:g} s"
            return self._reject(inv, Rejection(408, "request_timeout", message, [("connection", "close")]))
        except PayloadTooLarge:
            message = f"request bodies are limited to {self.max_body_bytes} bytes"
            return self._reject(inv, Rejection(413, "payload_too_large", message))
        except IncompleteBody:
            message = "the request body did not arrive whole (malformed chunk, short body or disconnect)"
            return self._error(inv, 400, "bad_request", message)
        if inv.tenant in snapshot.blocked:
            message = "the project used its daily CPU quota"
            return self._reject(inv, Rejection(429, "quota_exceeded", message, [("retry-after", "3600")]))
        rejection = None
        admission = self.admission
        if admission is not None:
            inv.admitted = True  # from the first admit call on, until __call__ releases the slot
            try:
                rejection = admission.admit(inv)
            except Exception as exc:
                raise PluginFailed(self._admission_plugin, "edgehost_admission") from exc
            if rejection is not None and rejection.status not in FINAL_STATUS:
                raise PluginFailed(self._admission_plugin, "edgehost_admission")
        if rejection is None and self._admit_hooks:
            rejection = self._plugin_admit(inv)
        if rejection is not None:
            return self._reject(inv, rejection)
        query = scope.get("query_string", b"")
        guest_headers = [(k, v) for k, v in headers if not k.startswith(PARAM_PREFIX) and k != REQUEST_ID]
        guest_headers.append((REQUEST_ID, inv.request_id.encode()))
        for param, text in match.params:
            guest_headers.append((PARAM_PREFIX + param.encode(*TEXT_CODEC), text.encode(*TEXT_CODEC)))
        request = encode_wire_request(
            method.encode(), raw_path + b"?" + query if query else raw_path, guest_headers, body
        )
        for plugin, started in self._started_hooks:
            try:
                started(inv)
            except Exception as exc:
                raise PluginFailed(plugin, "edgehost_invocation_started") from exc
        try:
            response = await self._invoke(live.pool, request, inv.request_id)
        except InvokeError as exc:
            inv.logs = exc.logs
            return self._error(inv, STATUS_OF.get(exc.code, 500), exc.code, exc.message)
        except Exception as exc:  # a host bug must answer 500 and leave the runner serving
            log.exception("invocation of %s failed in the host", inv.function_id)
            return self._error(
                inv, 500, "instantiate_failed", f"the runner could not run the function: {exc}"
            )
        inv.cpu_seconds = response.cpu_seconds
        inv.logs = response.logs
        inv.status = response.status
        out = [  # valid fields: the codec refused the rest (bad_response)
            (k.encode(*TEXT_CODEC), v.encode(*TEXT_CODEC))
            for k, v in response.headers
            if k.lower() not in DROPPED_GUEST_HEADERS
        ]
        self._finish(inv)
        declared = _declared_length(response.headers) if method == "HEAD" else None
        return response.status, out, response.body, declared

    def _remember_host(self, host: bytes) -> None:
        """Spares the next request with this Host the pattern match; bounded in entries and bytes
        (DNS names are at most 253 bytes), forgetting all at once when full."""
        if len(host) <= MAX_KNOWN_HOST:
            if len(self._valid_hosts) >= KNOWN_HOSTS:
                self._valid_hosts.clear()
            self._valid_hosts.add(host)

    def _plugin_admit(self, inv: Invocation) -> Rejection | None:
        """Each `edgehost_admit` until one refuses (firstresult); PluginFailed if one raises."""
        for plugin, admit in self._admit_hooks:
            try:
                rejection = admit(inv)
            except Exception as exc:
                raise PluginFailed(plugin, "edgehost_admit") from exc
            if rejection is not None:
                if rejection.status not in FINAL_STATUS:
                    raise PluginFailed(plugin, "edgehost_admit")
                return rejection
        return None

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
        # a suspect's calls are timed in thread CPU time too, and its next slow one decides.
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

    def _finish(self, inv: Invocation) -> None:
        """Once per invocation, before its answer is sent: usage, then the finished observers."""
        if inv.end_timestamp:
            return
        inv.end_timestamp = time.time()
        if inv.cpu_seconds:
            self.node.add_usage(inv.tenant, inv.cpu_seconds)
        for plugin, finished in self._finished_hooks:
            try:
                finished(inv)
            except Exception:  # observers must never turn an answer into a failure, nor silence others
                self._report(plugin, "edgehost_invocation_finished", inv)

    def _report(self, plugin: str, hook: str, inv: Invocation) -> None:
        """Logs the exception being handled with the plugin's name and counts it (edgehost_plugin_failed)."""
        log.exception("plugin %s failed in %s (request %s)", plugin, hook, inv.request_id)
        try:
            self.hook.edgehost_plugin_failed(plugin=plugin, hook=hook, invocation=inv)
        except Exception:
            log.exception("an edgehost_plugin_failed hook failed")

    def _plugin_failed(self, inv: Invocation, exc: PluginFailed) -> Answer:
        self._report(exc.plugin, exc.hook, inv)
        return self._error(inv, 500, "plugin_failed", str(exc))

    def _reject(self, inv: Invocation, rejection: Rejection) -> Answer:
        inv.response_headers.extend(rejection.headers)
        return self._error(inv, rejection.status, rejection.error_code, rejection.message)

    def _error(
        self, inv: Invocation, status: int, code: str, message: str, *, observe: bool = True
    ) -> Answer:
        """A JSON error answer; `observe` finishes the invocation (log line, metrics) first."""
        inv.status = status
        if observe:
            inv.error_code, inv.error_message = code, message
            self._finish(inv)
        return (
            status,
            [*JSON],
            _json.encode({"error": code, "detail": message, "request_id": inv.request_id}),
            None,
        )

    @staticmethod
    async def _respond(send: Send, inv: Invocation, answer: Answer, *, head: bool) -> None:
        """Sends an answer with what every answer carries (the plugins' headers, the request id) and
        the content and Content-Length its status and the method allow (`response_framing`)."""
        status, headers, body, declared = answer
        if inv.response_headers:
            headers.extend(_plugin_fields(inv.response_headers))
        headers.append((REQUEST_ID, inv.request_id.encode()))
        if head or status in SPECIAL_FRAMING:
            content, length = response_framing(status, head, body, declared)
        else:  # the common case, inline
            content, length = body, str(len(body)).encode()
        if length is not None:
            headers.append((b"content-length", length))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def close(self) -> None:
        self.threads.close()


def _declared_length(fields: list[tuple[str, str]]) -> bytes | None:
    """The guest's own Content-Length, if it sent exactly one made of digits (for HEAD)."""
    values = [v.encode(*TEXT_CODEC) for k, v in fields if k.lower() == "content-length"]
    return values[0] if len(values) == 1 and content_length_ok(values[0]) else None


def _plugin_fields(fields: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
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
