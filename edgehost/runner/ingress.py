"""The edge ingress: parse, route, admit, invoke, answer. This is the per-request path of the product.

It is a raw ASGI callable: the listener's target itself, or mounted at `/` of the ingress
Litestar app when a plugin wraps user traffic (edgehost/runner/mount.py). Every path and
method belongs to user routes. Admission (all tenant policy, then plugins' own) is
`edgehost.runner.admission`; where a guest call runs, inline or on guest threads, is
`edgehost.runtime.placement`.

What reaches a guest was read strictly (docs/runner.md, "HTTP at the ingress"): one valid Host
on HTTP/1.1 and HTTP/2, a body that arrived whole in a transfer coding the runner reads, no
CONNECT. What reaches a client is valid HTTP: the codec refuses what a guest may not say, and
`response_framing` decides content and Content-Length per status and method. Plugin calls on
this path follow the one policy of `edgehost.hookspecs`.
"""

from __future__ import annotations

import logging
import time
from random import getrandbits
from urllib.parse import unquote

import msgspec

from edgehost.asgi import (
    BodiesOverBudget,
    BodyBudget,
    BodyTimeout,
    IncompleteBody,
    PayloadTooLarge,
    Receive,
    Scope,
    Send,
    read_body,
)
from edgehost.contracts import Invocation, Rejection, RouteMatch
from edgehost.http_rules import request_problem, response_framing
from edgehost.plugin_manager import per_request_calls
from edgehost.rollouts import VERSION_KEY
from edgehost.runner.admission import AdmissionStep, PluginFailed, plugin_of
from edgehost.runner.node import NodeState
from edgehost.runner.response_fields import declared_length, plugin_fields
from edgehost.runner.snapshot import LiveFunction
from edgehost.runtime import InvokeError
from edgehost.runtime.codec import TEXT_CODEC, encode_wire_request  # client bytes reach the guest unchanged
from edgehost.runtime.placement import Placement
from edgehost.settings import Runner

log = logging.getLogger("edgefn.ingress")

STATUS_OF = {"timeout": 504, "payload_too_large": 413, "quota_exceeded": 429, "rate_limited": 429}
PARAM_PREFIX = b"x-edgefn-param-"
REQUEST_ID = b"x-request-id"
JSON = [(b"content-type", b"application/json")]
# granian names HTTP/1.0 "1"; both framings say whether a body follows.
HTTP1 = frozenset({"1", "1.0", "1.1"})
KNOWN_HOSTS = 1024
MAX_KNOWN_HOST = 260  # a 253-byte name and a port
# Statuses whose framing differs from "the body, with its length" (response_framing), as HEAD's does.
SPECIAL_FRAMING = frozenset({204, 205, 304})
_json = msgspec.json.Encoder()
# status, header fields, body, and the guest's own Content-Length (used for HEAD only)
Answer = tuple[int, list[tuple[bytes, bytes]], bytes, bytes | None]


class Ingress:
    def __init__(
        self,
        node: NodeState,
        *,
        max_body_bytes: int,
        max_requests_in_flight: int,
        body_timeout_s: float,
        max_buffered_body_bytes: int,
    ) -> None:
        self.node = node
        self.hook = node.ctx.hook
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        # Requests whose body has arrived whole, until their answer is ready: what the runner works
        # on. A request still sending its body is not one (runner.max_connections and
        # runner.body_timeout_s bound those), so stalled uploads cannot take every slot.
        self.in_flight = 0
        # ...and their bodies in memory, bounded apart: bytes of bodies still arriving.
        self.bodies = BodyBudget(max_buffered_body_bytes)
        self.max_in_flight = max_requests_in_flight
        self._overloaded = Rejection(
            503,
            "overloaded",
            f"the runner is serving {max_requests_in_flight} requests already",
            [("retry-after", "1")],
        )
        self.admission = self.hook.edgehost_admission(ctx=node.ctx, blocked=lambda: node.snapshot.blocked)
        self._admit = AdmissionStep(self.hook, self.admission)
        self.placement = Placement()
        self._valid_hosts: set[bytes] = set()  # Host values that passed host_ok, at most KNOWN_HOSTS
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
            max_buffered_body_bytes=runner.max_buffered_body_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        # 16 hex digits; an id, not a secret: no urandom syscall per request (and no format parsing)
        request_id = getrandbits(64).to_bytes(8, "big").hex()
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
        # request_id, node_id, method, host, path, start_timestamp
        inv = Invocation(request_id, self.node.node_id, method, host.decode(*TEXT_CODEC), path, time.time())
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
            answer = self._error(inv, 500, "host_error", "the runner failed to answer; the failure is logged")
        finally:
            try:  # the one place the slot goes back, whatever happened after admit
                self._admit.release(inv)
            except Exception:  # reported; the answer stands
                self._report(self._admit.plugin, "edgehost_admission", inv)
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
        live = snapshot.functions.get(match.route.function_id)
        if live is None:  # routed, but it could not start here (NodeState.apply): 503, never a 404
            inv.function_id = match.route.function_id
            detail = snapshot.unavailable_detail(match.route.function_id)
            return self._error(inv, 503, "function_unavailable", detail)
        if snapshot.splits and (split := snapshot.splits.get(match.route.function_id)) is not None:
            live = split.pick(_version_key(headers))
        inv.function_id = live.deployment.function_id
        inv.version = live.deployment.version
        inv.tenant = live.deployment.project
        try:
            body = (
                await read_body(receive, self.max_body_bytes, self.body_timeout_s, self.bodies)
                if has_body
                else b""
            )
        except BodyTimeout:
            # RFC 9110 §15.5.9: the connection is closed, since the rest of the body may still come.
            message = f"the request body did not arrive within {self.body_timeout_s:g} s"
            return self._reject(inv, Rejection(408, "request_timeout", message, [("connection", "close")]))
        except BodiesOverBudget:
            # The rest of this body may still come: the connection is closed after the answer.
            message = f"the runner is reading {self.bodies.limit} bytes of request bodies already"
            return self._reject(
                inv, Rejection(503, "overloaded", message, [("retry-after", "1"), ("connection", "close")])
            )
        except PayloadTooLarge:
            message = f"request bodies are limited to {self.max_body_bytes} bytes"
            return self._reject(inv, Rejection(413, "payload_too_large", message))
        except IncompleteBody:
            message = "the request body did not arrive whole (malformed chunk, short body or disconnect)"
            return self._error(inv, 400, "bad_request", message)
        if self.in_flight >= self.max_in_flight:  # shed before any guest work
            return self._reject(inv, self._overloaded)
        self.in_flight += 1
        try:
            return await self._run(scope, inv, match, live, raw_path, headers, body)
        finally:
            self.in_flight -= 1

    async def _run(
        self,
        scope: Scope,
        inv: Invocation,
        match: RouteMatch,
        live: LiveFunction,
        raw_path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> Answer:
        """Admits a request whose body arrived whole, runs its guest, and builds the answer."""
        method = inv.method
        rejection = self._admit.admit(inv)
        if rejection is not None:
            return self._reject(inv, rejection)
        query = scope.get("query_string", b"")
        # The client's own fields (their tuples as they came), less those only the runner may set.
        guest_headers = [f for f in headers if f[0] != REQUEST_ID and not f[0].startswith(PARAM_PREFIX)]
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
            response = await self.placement.invoke(live.pool, request, inv.request_id)
        except InvokeError as exc:
            inv.logs = exc.logs
            return self._error(inv, STATUS_OF.get(exc.code, 500), exc.code, exc.message)
        except Exception as exc:  # a host bug must answer 500 and leave the runner serving
            log.exception("invocation of %s failed in the host", inv.function_id)
            return self._error(inv, 500, "host_error", f"the runner could not run the function: {exc}")
        inv.cpu_seconds = response.cpu_seconds
        inv.logs = response.logs
        inv.status = response.status
        out = live.relayed(response.headers)
        declared = None
        if method == "HEAD":
            try:
                declared = declared_length(response.headers)
            except InvokeError as exc:
                return self._error(inv, 500, exc.code, exc.message)
        self._finish(inv)
        return response.status, out, response.body, declared

    def _remember_host(self, host: bytes) -> None:
        """Spares the next request with this Host the pattern match; bounded in entries and bytes
        (DNS names are at most 253 bytes), forgetting all at once when full."""
        if len(host) <= MAX_KNOWN_HOST:
            if len(self._valid_hosts) >= KNOWN_HOSTS:
                self._valid_hosts.clear()
            self._valid_hosts.add(host)

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
            headers.extend(plugin_fields(inv.response_headers))
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
        self.placement.close()


def _version_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The request's `x-edgefn-version-key`, which keeps a client on one version of a rollout."""
    for name, value in headers:
        if name == VERSION_KEY:
            return value
    return None
