"""The hooks edgefn is assembled from; built-in plugins implement them exactly as third parties do.

Assembly hooks run once when an app is built. Only three hooks run per request
(`edgehost_admit`, `edgehost_invocation_started`, `edgehost_invocation_finished`), and
the components a request touches (route table, pool, cache) are chosen once through
`firstresult` hooks, so the per-request cost of the plugin host stays small.

One policy covers every plugin call on the request path (the three hooks, and the route table's
`lookup` and the admission's `admit`/`release`): whatever raises, the tenant's admission slot is
released (the ingress runs everything after `admit` under `try/finally`), the failure is logged
with the plugin's name and the hook, and counted (`edgehost_plugin_failed`, which the metrics
plugin turns into `edgefn_plugin_errors_total{plugin,hook}`). A call made before the answer is
decided answers 500 `{"error": "plugin_failed", "detail": ..., "request_id": ...}` instead; an
`edgehost_invocation_finished` observer never changes the answer. No plugin fault reaches the
HTTP server, so no client ever gets its plain-text 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import pluggy

from edgehost.plugin_names import PROJECT

if TYPE_CHECKING:
    import click
    from litestar import Litestar
    from litestar.config.app import AppConfig
    from prometheus_client.registry import Collector

    from edgehost.context import AppContext
    from edgehost.contracts import (
        Admission,
        ArtifactCache,
        ArtifactStore,
        Invocation,
        PoolFactory,
        ProcessKind,
        RouteLookup,
        RouteSpec,
    )
    from edgehost.kv import KvLimits, KvStore
    from edgehost.protocol import HostClaim
    from edgehost.runtime import FunctionSpec, HostFunction
    from edgehost.settings import Settings, SettingsSection

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# The five assembly hooks below name the listener whose app is being built: `api` (developer API),
# `node` (the CP's node listener), `ingress` (the runner's user traffic, where any path belongs to
# user routes) or `metrics`. Each also receives the same value as `role`, its name before "role"
# came to mean only a project membership's or the operator's: deprecated, kept so plugins written
# against it still register (pluggy passes each implementation only the arguments it names).


@hookspec
def edgehost_route_handlers(listener: str, ctx: AppContext, role: str) -> Sequence[Any]:
    """Litestar route handlers or routers to mount on the app serving `listener`."""


@hookspec
def edgehost_middleware(listener: str, ctx: AppContext, role: str) -> Sequence[Any]:
    """ASGI middleware (Litestar `DefineMiddleware` or factories) to wrap the app of `listener`.

    This is how a third party adds request signing at the ingress or an SSO front on the API;
    a WSGI middleware goes through an ASGI adapter first.
    """


@hookspec
def edgehost_lifespan(
    listener: str, ctx: AppContext, role: str
) -> Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]]:
    """Async context managers entered while the app of `listener` runs: background tasks, pools, clients."""


@hookspec
def edgehost_dependencies(listener: str, ctx: AppContext, role: str) -> dict[str, Any]:
    """Litestar dependency providers (name to `Provide`) for the app of `listener`."""


@hookspec
def edgehost_app_config(listener: str, ctx: AppContext, config: AppConfig, role: str) -> None:
    """Changes Litestar's `AppConfig` of the app of `listener` in place, once the other assembly hooks
    filled it (as Litestar's own `on_app_init` does): exception handlers, guards, Litestar plugins
    (`config.plugins`), CORS, response headers, anything `Litestar(...)` takes.

    The core plugin's implementation runs first (its routes, error rendering, JSON request class,
    the API's OpenAPI document), so a plugin sees and may change those. Adding per-request work
    (middleware, guards, before/after request hooks) turns the listener's fast path off, so that it
    sees every request (`edgefn plugins` shows which listeners keep one).
    """


@hookspec
def edgehost_settings_sections() -> Mapping[str, type[SettingsSection]]:
    """The settings tables this plugin owns, by name, each typed as a `SettingsSection` subclass:
    `{"stamp": StampSettings}` makes `[stamp]` in a config file and `EDGEFN_STAMP__KEY` variables
    its own, read back typed with `ctx.settings.section(StampSettings)`.

    Called once the plugins are loaded, before any other hook sees the settings. A table no loaded
    plugin declares, an unknown key in one, or a bad value stops start-up with one line naming
    the key (exit status 2); so does a table two plugins declare, or one the core has.
    """


@hookspec
def edgehost_cli_commands() -> Sequence[click.Command]:
    """Extra `edgefn` sub-commands."""


@hookspec
def edgehost_host_functions(ctx: AppContext) -> Sequence[HostFunction]:
    """Host functions guests may import (module `edgefn` unless a plugin says otherwise).

    Registration refuses imports that no plugin provides, so these lists are the guest's
    whole capability set beyond the WASI whitelist.
    """


@hookspec(firstresult=True)
def edgehost_artifact_store(settings: Settings) -> ArtifactStore | None:
    """The control plane's artifact store (`artifacts.backend`): a local folder, S3, or a plugin's own."""


@hookspec
def edgehost_kv_backends() -> Mapping[str, Callable[[Settings, KvLimits], KvStore]]:
    """KV store backends by the name `kv.backend` gives (built in: `sqlite`, `redis`): each makes the
    one store (edgehost/kv: the `KvStore` contract) a process uses for every project.

    A factory must not connect yet: the store is built once per process, when a guest or the API
    first needs it, and must be thread-safe and bound every wait by the call's `timeout`.
    """


@hookspec(firstresult=True)
def edgehost_route_table(routes: Sequence[RouteSpec], claims: Sequence[HostClaim]) -> RouteLookup | None:
    """Compiles the node's routes into the lookup used on every request; called once per change.

    `claims` are every project's explicit hosts (also of functions this node does not run): a
    request for a claimed host must be answered by its project's routes only. A route that cannot
    be compiled raises (any exception, with a sentence for the developer): the runner then calls
    this hook per project to find the broken ones and serves every other project.

    Request-path policy (module docstring): a `lookup` that raises answers 500 `plugin_failed`,
    is logged with the plugin's name and counted under hook `edgehost_route_table`.
    """


@hookspec(firstresult=True)
def edgehost_artifact_cache(ctx: AppContext, process: ProcessKind) -> ArtifactCache | None:
    """The runner's local artifact cache, where verified modules live between deploys and restarts.

    `process` is the runner process asking (`single`, `agent` or `worker`, docs/runner.md): the
    workers share the agent's cache directory, so only a `single` or `agent` process owns it
    (recovers it after a crash, evicts); a `worker` reads what the agent put there."""


@hookspec(firstresult=True)
def edgehost_instance_pool(ctx: AppContext) -> PoolFactory | None:
    """Makes the hot instance pool of one function version."""


@hookspec
def edgehost_serves_once(spec: FunctionSpec, wasm: bytes) -> bool:
    """Whether each instance of this function version must serve one request only, although its
    `fresh_instance` is false: True for a guest whose toolchain cannot answer twice on one instance
    (componentize-js 0.19 fails a second request with "respondWith can't be called twice").

    Asked once per version as its pool is made, with the module or component as deployed; any True
    decides (`plugins/pooling.py`, `serves_once`). Return False, or nothing, for guests you do not
    recognise."""


@hookspec(firstresult=True)
def edgehost_admission(ctx: AppContext, blocked: Callable[[], frozenset[str]]) -> Admission | None:
    """All per-tenant policy, consulted before every invocation: the built-in (`quotas`) refuses
    the projects `blocked()` names (429 `quota_exceeded`: the control plane blocked them for the
    rest of the UTC day, having seen them use `quotas.cpu_seconds_per_day` across all nodes), then
    applies concurrency and the per-minute window. A plugin that replaces it replaces all of
    that; `blocked()` is the runner's current list, cheap to call per request.

    Called once per ingress process; the ingress then calls the returned object directly, so the
    built-in quotas cost no hook dispatch per request. `release` is called exactly once for
    every `admit` call, whether it admitted, refused or raised (so it must tolerate releasing
    what a refused or failed `admit` never took; the built-in marks its slot on the invocation).

    Request-path policy (module docstring): an `admit` that raises, or returns a `Rejection`
    whose status is not 200..599, answers 500 `plugin_failed`; a `release` that raises is logged
    and counted but leaves the answer alone. Both count under hook `edgehost_admission`.
    """


@hookspec(firstresult=True)
def edgehost_admit(invocation: Invocation) -> Any:
    """Per request, after built-in admission and before any guest code runs: return a `Rejection`
    to answer without invoking (a plugin's own policy: geo-blocking, API keys, ...).

    Request-path policy (module docstring): raising, or returning a `Rejection` whose status is
    not 200..599, answers 500 `plugin_failed` with the request id, logged with this plugin's name,
    counted, and the admission slot released; later `edgehost_admit` implementations do not run.
    """


@hookspec
def edgehost_invocation_started(invocation: Invocation) -> None:
    """Per request, once a route matched and admission passed, just before the guest runs.

    Request-path policy (module docstring): raising answers 500 `plugin_failed` with the request
    id instead of running the guest, logged with this plugin's name, counted, and the admission
    slot released; later implementations do not run.
    """


@hookspec
def edgehost_invocation_finished(invocation: Invocation) -> None:
    """Per request, after the answer is decided (also for rejections and failures).

    Metrics, invocation logs and usage accounting hang here; an implementation may add
    response headers through `invocation.response_headers` (one that is not a valid field, RFC
    9110 §5, is dropped and logged).

    Request-path policy (module docstring): raising is logged with this plugin's name and
    counted; the answer already decided is sent unchanged and the other implementations still run.
    """


@hookspec
def edgehost_plugin_failed(plugin: str, hook: str, invocation: Invocation) -> None:
    """After a plugin's call on the request path raised (`hook` names it, `plugin` the plugin, or
    several comma-separated when pluggy's own dispatch ran them); only on that failure path.

    The metrics plugin counts these. An implementation that raises is logged and ignored.
    """


@hookspec
def edgehost_artifact_cache_result(function_id: str, hit: bool) -> None:
    """After each lookup of a deployed artifact in the local cache: a verified hit, or a miss."""


@hookspec
def edgehost_pool_size_changed(function_id: str, size: int) -> None:
    """After a function's hot instances were added or removed: `size` counts all its live versions
    in this process."""


@hookspec
def edgehost_metric_collectors(ctx: AppContext) -> Sequence[Collector]:
    """prometheus-client collectors over this plugin's own live state, collected at each scrape of
    `/metrics` (the runner's metrics listener, the control plane's API), so state already kept in
    memory costs nothing per request. A plugin finds the objects it made through the services
    (`ctx.services.get(NodeState)`, then its own pool or cache class) rather than reading another
    component's attributes; the core contributes the sync agent's, node state's and fleet's."""


@hookspec(firstresult=True)
def edgehost_authenticate_developer(token: str, ctx: AppContext) -> str | None:
    """Turns a bearer token into a developer subject, or raises `AuthError` (401)."""


@hookspec(firstresult=True)
def edgehost_authorize_operator(subject: str, ctx: AppContext) -> bool | None:
    """Whether an authenticated developer `subject` holds the operator role: reading the node feed,
    draining and undraining nodes. The built-in answer is membership of `auth.operators`; a plugin
    may answer from its identity provider's groups first (None leaves the decision to the next)."""


@hookspec(firstresult=True)
def edgehost_authenticate_node(token: str, ctx: AppContext) -> str | None:
    """Turns a node credential into a node id, or raises `NodeAuthError` (401/403)."""


@hookspec
def edgehost_startup_problems(ctx: AppContext) -> Sequence[str]:
    """Human sentences about what is missing, logged as warnings when a command builds its context.

    The core answers too (as the `core` plugin): one sentence for each built-in disabled by
    `disabled_plugins` whose capability no other plugin took over, e.g. "metrics plugin disabled:
    /metrics is not served ...". A plugin that needs something it cannot find (a setting, a
    service) says so here rather than failing later on the request path. A setting no plugin can
    use raises `SettingsError` instead (naming the key): the command exits 2 before serving.
    """
