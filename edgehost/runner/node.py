"""The runner's live state and the reconciler that moves it to the desired state.

The ingress reads one immutable `Snapshot` (route table + live functions + blocked tenants)
per request; the reconciler builds the next snapshot off to the side, with artifacts
fetched, verified, compiled and warmed, and swaps it in with a single assignment, so a
request never sees half a deploy.

One class serves the three processes of docs/runner.md: `single` (agent and ingress in one
process), `agent` (fetches, verifies, caches, compiles and instantiates once, so a guest that
cannot start is reported, then publishes what is ready for the workers; keeps no pools) and
`worker` (serves what the agent published, from the cache it does not own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

import httpx
import msgspec

from edgehost.context import AppContext
from edgehost.contracts import ArtifactCache, InstancePool, PoolFactory, ProcessKind, RouteLookup
from edgehost.project_queue import ProjectQueue
from edgehost.protocol import (
    CachedFunction,
    DesiredState,
    FunctionDeployment,
    HostClaim,
    Report,
    RouteSpec,
)
from edgehost.runner.fetcher import FetchError, RetryPolicy, fetch_artifact
from edgehost.runner.snapshot import Key, LiveFunction, NoRoutes, Snapshot, spec_of, splits_of
from edgehost.runner.statefile import ServingState
from edgehost.runtime import InvokeError

log = logging.getLogger("edgefn.runner")


class NodeState:
    """Owns pools, cache and snapshot for one runner process."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        report: Callable[[Report], Awaitable[None]] | None = None,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        process: ProcessKind = "single",
        publish: Callable[[DesiredState], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.node_id = ctx.settings.runner.node_id
        self.process = process
        cache = ctx.hook.edgehost_artifact_cache(ctx=ctx, process=process)
        pools = ctx.hook.edgehost_instance_pool(ctx=ctx)
        if cache is None or pools is None:
            raise RuntimeError("the runner needs a caching and a pooling plugin; both are disabled")
        self.cache: ArtifactCache = cache
        self.pools: PoolFactory = pools
        self.snapshot = Snapshot()
        self.states: dict[Key, CachedFunction] = {}
        self.live: dict[Key, LiveFunction] = {}
        self.usage: dict[str, float] = {}
        self._report = report
        self.http = http
        self._retry = retry or RetryPolicy()
        self._publish = publish
        self._lock = asyncio.Lock()
        self.route_errors: dict[str, str] = {}  # project -> why its latest routes are not applied
        self._good_routes: dict[str, list[RouteSpec]] = {}  # project -> its routes last applied
        self._desired = DesiredState(revision=0)
        self._bringing: dict[Key, asyncio.Task[None]] = {}  # deployments coming up in the background
        self._compiles = ProjectQueue(ctx.settings.runner.bring_up_slots(), "edgefn-compile")

    def add_usage(self, tenant: str, cpu_seconds: float) -> None:
        self.usage[tenant] = self.usage.get(tenant, 0.0) + cpu_seconds

    def drain_usage(self) -> dict[str, float]:
        usage, self.usage = self.usage, {}
        return usage

    def inventory(self) -> tuple[CachedFunction, ...]:
        """Each function version's state here; one of a project whose routes failed is an error."""
        states = []
        for key in sorted(self.states):
            state = self.states[key]
            live = self.live.get(key)
            reason = self.route_errors.get(live.deployment.project) if live is not None else None
            if reason is not None and state.state == "cached":
                state = msgspec.structs.replace(state, state="error", error=_route_error(reason))
            states.append(state)
        return tuple(states)

    async def apply(self, desired: DesiredState) -> None:
        """Makes the node run exactly `desired`; a failure is reported per function, never stops the rest.

        Returns once what is ready serves, without waiting for bring-ups: each runs in the background
        (at most `runner.max_concurrent_bring_ups` compiling at once, one per project at a time, so one
        tenant's slow compiles never delay another's deploy) and joins the snapshot when done."""
        async with self._lock:
            self._desired = desired
            for deployment in desired.functions:
                self._start(deployment)
            await self._serve(desired)

    async def settled(self) -> None:
        """Waits until every bring-up started so far has joined the snapshot (or failed)."""
        while self._bringing:
            await asyncio.gather(*self._bringing.values(), return_exceptions=True)

    def _start(self, d: FunctionDeployment) -> None:
        """Brings `d` up in the background unless it runs here already or is coming up."""
        key = (d.function_id, d.version)
        current = self.live.get(key)
        # A redeployment of the same version with other secret values needs new instances.
        if key in self._bringing or (current and current.deployment.secret_values == d.secret_values):
            return
        self._bringing[key] = asyncio.create_task(self._bring_up_and_join(d), name=f"bring-up {key}")

    async def _bring_up_and_join(self, d: FunctionDeployment) -> None:
        """Brings `d` up, then serves it if it is still wanted, with the latest desired state."""
        key = (d.function_id, d.version)
        try:
            live = await self._bring_up(d)
        except Exception:  # a bug here must not leave the deployment "coming up" for good
            log.exception("bring-up of %s v%s failed", d.function_id, d.version)
            live = None
        async with self._lock:
            del self._bringing[key]
            desired = self._desired
            wanted = next((w for w in desired.functions if (w.function_id, w.version) == key), None)
            if live is not None and wanted == d:
                if (current := self.live.get(key)) is not None:
                    self.pools.discard(current.pool)
                self.live[key] = live
            elif live is not None:  # undeployed or redeployed meanwhile
                self.pools.discard(live.pool)
                if key not in self.live:
                    self.states.pop(key, None)
                    self.cache.unpin(*key)
            if wanted is not None and wanted != d:
                self._start(wanted)
            try:
                await self._serve(desired)
            except Exception:  # the next apply retries; the previous snapshot keeps serving
                log.exception("could not serve desired state r%s", desired.revision)

    async def _serve(self, desired: DesiredState) -> None:
        """Swaps in the snapshot of `desired` with what is live now, takes down what it no longer
        needs and publishes what serves. A function whose wanted version is still coming up keeps
        serving the version it had, so a replaced version goes only once its replacement serves."""
        wanted = {(d.function_id, d.version) for d in desired.functions}
        coming = {key[0] for key in self._bringing if key in wanted and key not in self.live}
        serving = {k: lf for k, lf in self.live.items() if k in wanted or k[0] in coming}
        functions = {k[0]: lf for k, lf in sorted(serving.items(), key=lambda kv: kv[0] in wanted)}
        inherited = desired.unavailable if isinstance(desired, ServingState) else {}
        failed = {**inherited, **self._failed(wanted)}
        routes = [r for r in desired.routes if r.function_id in functions or r.function_id in failed]
        splits = splits_of(desired.rollouts, {k: lf for k, lf in self.live.items() if k in wanted})
        table, routes = await self._route_table(routes, desired.host_claims, functions)
        self.snapshot = Snapshot(
            routes=table,
            functions=functions,
            blocked=frozenset(desired.blocked_tenants),
            revision=desired.revision,
            unavailable=failed,
            splits=splits,
        )
        for key in [k for k in self.live if k not in serving]:
            await self._take_down(key, remove_artifact=desired.remove_artifacts)
        if self._publish is not None:
            fields = msgspec.structs.asdict(desired)
            ready = tuple(lf.deployment for lf in serving.values())
            fields.update(functions=ready, routes=tuple(routes), unavailable=failed)
            await asyncio.to_thread(self._publish, ServingState(**fields))

    def _failed(self, wanted: Iterable[Key]) -> dict[str, str]:
        """Function id -> the error of each wanted version that could not be brought up here."""
        return {
            key[0]: state.error
            for key in wanted
            if key not in self.live and (state := self.states.get(key)) is not None and state.state == "error"
        }

    async def _route_table(
        self, routes: list[RouteSpec], claims: Sequence[HostClaim], functions: dict[str, LiveFunction]
    ) -> tuple[RouteLookup, list[RouteSpec]]:
        """The table of `routes`, and the routes it holds; a project whose routes do not compile
        (data older than the CP's checks, a plugin's stricter router) keeps its last good routes
        and is reported, and every other project is applied. Tables are built in a thread: every
        project's routes take a while to compile (0.5 s for 21,000), and the loop serves requests."""
        hook = self.ctx.hook.edgehost_route_table

        async def build(routes: Sequence[RouteSpec], claims: Sequence[HostClaim]) -> RouteLookup | None:
            return await asyncio.to_thread(hook, routes=routes, claims=claims)

        try:
            table = await build(routes, claims)
        except Exception:
            broken: dict[str, str] = {}
            for project, own in _by_project(routes).items():
                try:
                    await build(own, claims)
                except Exception as exc:
                    broken[project] = _reason(exc)
            routes = [r for r in routes if r.project not in broken] + [
                r
                for project in broken
                for r in self._good_routes.get(project, ())
                if r.function_id in functions
            ]
            try:
                table = await build(routes, claims)
            except Exception:  # a router that fails only on the whole set: keep what serves now
                log.exception("the route table could not be built; the previous one keeps serving")
                return self.snapshot.routes, [r for own in self._good_routes.values() for r in own]
        else:
            broken = {}
        self._good_routes = {p: own for p, own in _by_project(routes).items()}
        for project, reason in broken.items():
            if self.route_errors.get(project) != reason:
                await self._report_routes(project, reason, functions)
        self.route_errors = broken
        return table or NoRoutes(), routes

    async def _report_routes(self, project: str, reason: str, functions: dict[str, LiveFunction]) -> None:
        for live in functions.values():
            if live.deployment.project == project:
                await self._report_state(live.deployment, "error", _route_error(reason))

    async def _bring_up(self, d: FunctionDeployment) -> LiveFunction | None:
        key = (d.function_id, d.version)
        self.states[key] = CachedFunction(function_id=d.function_id, version=d.version, state="fetching")
        try:
            wasm = await asyncio.to_thread(self.cache.get, d.function_id, d.version, d.sha256)
            self.ctx.hook.edgehost_artifact_cache_result(function_id=d.function_id, hit=wasm is not None)
            if wasm is None:
                wasm = await self._fetch(d)
            compiled_path = self.cache.path_for(d.function_id, d.version).with_suffix(".cwasm")
            # The start function and `_initialize` run here: a guest that cannot start is reported
            # with its reason before it takes traffic, by the agent of a multi-worker runner too.
            pool = await self._compiles.run(d.project, self._compile_and_warm, d, wasm, compiled_path)
            if self.process == "agent":
                self.pools.discard(pool)  # compiled (and .cwasm written) once here; the workers warm
        except FetchError as exc:
            await self._fail(d, exc.message, exc)
            return None
        except InvokeError as exc:
            await self._fail(d, f"cannot instantiate: {_instantiation_error(exc, d)}", None)
            return None
        except Exception as exc:  # a broken module or a full disk must not stop the other deployments
            log.exception("deploy of %s v%s failed", d.function_id, d.version)
            await self._fail(d, f"{type(exc).__name__}: {exc}", None)
            return None
        self.cache.pin(d.function_id, d.version)
        self.states[key] = CachedFunction(function_id=d.function_id, version=d.version, state="cached")
        await self._report_state(d, "cached")
        return LiveFunction(deployment=d, pool=pool)

    def _compile_and_warm(self, d: FunctionDeployment, wasm: bytes, compiled_path: Path) -> InstancePool:
        """`d`'s pool, compiled (or loaded from `compiled_path`) and warmed: CPU-bound, on a compile slot."""
        pool = self.pools(spec_of(d), wasm, compiled_path, d.min_hot_instances, d.max_hot_instances)
        pool.warm()
        return pool

    async def _fetch(self, d: FunctionDeployment) -> bytes:
        client = self.http or httpx.AsyncClient(timeout=30.0)
        try:
            tmp = await fetch_artifact(
                d.artifact_url,
                expected_sha256=d.sha256,
                dest_dir=self.cache.tmp_dir,
                client=client,
                policy=self._retry,
            )
        finally:
            if self.http is None:
                await client.aclose()
        path = await asyncio.to_thread(self.cache.put, d.function_id, d.version, d.sha256, tmp)
        return await asyncio.to_thread(path.read_bytes)

    async def _fail(self, d: FunctionDeployment, message: str, exc: FetchError | None) -> None:
        self.states[(d.function_id, d.version)] = CachedFunction(
            function_id=d.function_id, version=d.version, state="error", error=message
        )
        await self._report_state(d, "error", message, exc)

    async def _report_state(
        self, d: FunctionDeployment, state: str, error: str = "", exc: FetchError | None = None
    ) -> None:
        await self._send(
            Report(
                node_id=self.node_id,
                function_id=d.function_id,
                version=d.version,
                state=state,
                error=error,
                timestamp=time.time(),
                expected_sha256=(exc.expected_sha256 or "") if exc else "",
                actual_sha256=(exc.actual_sha256 or "") if exc else "",
            )
        )

    async def _take_down(self, key: Key, *, remove_artifact: bool) -> None:
        live = self.live.pop(key)
        self.pools.discard(live.pool)
        self.states.pop(key, None)
        self.cache.unpin(*key)
        if remove_artifact and self.process != "worker":
            await asyncio.to_thread(self.cache.remove, *key)

    async def _send(self, report: Report) -> None:
        if report.state == "error":
            log.error(
                "deployment of %s v%s failed: %s",
                report.function_id,
                report.version,
                report.error,
                extra={
                    "function_id": report.function_id,
                    "version": report.version,
                    "error_message": report.error,
                },
            )
        if self._report is not None:
            try:
                await self._report(report)
            except Exception as exc:  # the CP may be away; the heartbeat inventory carries the state too
                log.warning("could not send report: %s", exc)

    async def close(self) -> None:
        for task in self._bringing.values():
            task.cancel()
        self._compiles.close()
        for key in list(self.live):
            await self._take_down(key, remove_artifact=False)


def _by_project(routes: Iterable[RouteSpec]) -> dict[str, list[RouteSpec]]:
    grouped: dict[str, list[RouteSpec]] = {}
    for route in routes:
        grouped.setdefault(route.project, []).append(route)
    return grouped


def _reason(exc: Exception) -> str:
    """A router's refusal as a sentence: its own message, or the exception's name with it."""
    return str(exc) if isinstance(exc, ValueError) and str(exc) else f"{type(exc).__name__}: {exc}"


def _route_error(reason: str) -> str:
    return f"the project's new routes are not applied (its previous ones still serve): {reason}"


def _instantiation_error(exc: InvokeError, d: FunctionDeployment) -> str:
    """Why warming failed; a time-out there is the guest's start function or `_initialize`."""
    if exc.code == "timeout":
        return (
            f"its start function or _initialize did not finish within max_execution_ms "
            f"({d.max_execution_ms} ms): {exc.message}"
        )
    return exc.message
