"""Routes, deployments and rollbacks, and the desired state each node derives from them."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from piccolo.engine import PostgresEngine

from edgehost.contracts import ArtifactStore
from edgehost.controlplane.notify import Notifier
from edgehost.controlplane.route_ownership import refuse_overlaps, store_routes
from edgehost.controlplane.schemas import ActiveDeployment, Deployed, DeploymentIn, RouteIn, Share
from edgehost.controlplane.secrets import SecretStore, take_secrets
from edgehost.db.tables import Deployment, Function, FunctionVersion, Node, Route, json_list, version_limits
from edgehost.errors import ApiError
from edgehost.protocol import DesiredState, FunctionDeployment, HostClaim, Rollout, RouteSpec
from edgehost.rollouts import check_shares
from edgehost.routes import RouteSyntaxError, parse_route
from edgehost.selectors import Selector, SelectorError, compile_selector


@functools.lru_cache(maxsize=4096)
def selector(expr: str) -> Selector:
    return compile_selector(expr)


class Deployments:
    def __init__(  # `secrets` None: no secrets kept, so versions naming some cannot be deployed
        self,
        store: ArtifactStore,
        notifier: Notifier,
        *,
        url_ttl_s: int,
        max_routes_per_project: int,
        secrets: SecretStore | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.notifier = notifier
        self.url_ttl_s = url_ttl_s
        self.max_routes_per_project = max_routes_per_project
        self._replacing = asyncio.Lock()

    async def _function(self, project: dict[str, Any], name: str) -> dict[str, Any]:
        fn = (
            await Function.select()
            .where((Function.project == project["id"]) & (Function.name == name))
            .first()
        )
        if fn is None:
            raise ApiError(404, "not_found", f"project {project['name']!r} has no function {name!r}")
        return fn

    async def _ready_version(self, fn: dict[str, Any], version: int | None) -> int:
        query = FunctionVersion.select(FunctionVersion.version, FunctionVersion.state).where(
            FunctionVersion.function == fn["id"]
        )
        if version is None:
            row = (
                await query.where(FunctionVersion.state == "ready")
                .order_by(FunctionVersion.version, ascending=False)
                .first()
            )
            if row is None:
                raise ApiError(409, "not_ready", f"function {fn['name']!r} has no ready version to deploy")
            return int(row["version"])
        row = await query.where(FunctionVersion.version == version).first()
        if row is None:
            raise ApiError(404, "not_found", f"function {fn['name']!r} has no version {version}")
        if row["state"] != "ready":
            raise ApiError(409, "not_ready", f"{fn['name']} v{version} is {row['state']}, not ready")
        return version

    async def replace_routes(self, project: dict[str, Any], routes: list[RouteIn], subject: str) -> int:
        """Replaces the project's whole route set in one transaction, under the ownership rule of
        `edgehost/routes.py`: 422 for a route that is no route, 409 for one that overlaps another
        project's claim (named by its host and path; by its project too if `subject` is in both);
        422 too_many_routes past `api.max_routes_per_project`, which bounds the cost of the check."""
        if len(routes) > self.max_routes_per_project:
            raise ApiError(
                422,
                "too_many_routes",
                f"a project may have at most {self.max_routes_per_project} routes"
                f" (api.max_routes_per_project), not {len(routes)}; use path parameters, `/*` or a"
                " wildcard host to cover more paths per route",
            )
        functions = {
            fn["name"]: fn["id"] for fn in await Function.select().where(Function.project == project["id"])
        }
        mine = []
        for route in routes:
            if route.function not in functions:
                raise ApiError(
                    422, "unknown_function", f"route {route.path} names unknown function {route.function!r}"
                )
            try:
                mine.append(parse_route(route.host, route.path, route.methods))
            except RouteSyntaxError as exc:
                raise ApiError(422, "bad_route", f"route {route.host} {route.path}: {exc}") from None
        rows = [
            Route(
                project=project["id"],
                function=functions[r.function],
                host=pattern.host.text,
                path=r.path,
                methods=sorted(pattern.methods),
                priority=r.priority,
            )
            for r, pattern in zip(routes, mine, strict=True)
        ]
        db = Route._meta.db
        # Two projects claiming one host at once: one of them waits, here in this process...
        async with self._replacing:
            if isinstance(db, PostgresEngine):  # ...and in every CP process sharing the database
                async with db.transaction():
                    await Route.raw("LOCK TABLE edgefn_route IN SHARE ROW EXCLUSIVE MODE")
                    await refuse_overlaps(mine, project, subject)
                    await store_routes(project, rows)
            else:
                # SQLite serves one CP process (replicas need PostgreSQL), so the lock above is
                # enough, and the check reads outside the write transaction: a
                # transaction's read lock, held while the check runs, would hold off every write
                # (each heartbeat's) until "database is locked".
                await refuse_overlaps(mine, project, subject)
                async with db.transaction():
                    await store_routes(project, rows)
        await self.notifier.bump()
        return len(routes)

    async def list_routes(self, project: dict[str, Any]) -> list[RouteIn]:
        rows = (
            await Route.select(Route.host, Route.path, Route.methods, Route.priority, Route.function.name)
            .where(Route.project == project["id"])
            .order_by(Route.id)
            .output(load_json=True)
        )
        return [
            RouteIn(
                host=r["host"],
                path=r["path"],
                methods=list(r["methods"] or []),
                priority=r["priority"],
                function=r["function.name"],
            )
            for r in rows
        ]

    async def deploy(self, project: dict[str, Any], spec: DeploymentIn, subject: str) -> Deployed:
        try:
            matcher = selector(spec.selector)
        except SelectorError as exc:
            raise ApiError(422, "bad_selector", str(exc)) from None
        fn = await self._function(project, spec.function)
        version = await self._ready_version(fn, spec.version)
        await self._activate(fn, version, spec.selector, subject)
        nodes = (
            await Node.select(Node.node_id, Node.labels).where(Node.status == "online").output(load_json=True)
        )
        targets = sorted(n["node_id"] for n in nodes if matcher.matches(n["labels"] or {}))
        return Deployed(function=fn["name"], version=version, selector=spec.selector, nodes=targets)

    async def _activate(
        self,
        fn: dict[str, Any],
        version: int,
        selector_expr: str,
        subject: str,
        *,
        replacing: int | None = None,
        shares: list[list[int]] | None = None,
    ) -> None:
        """Makes `version` the one active deployment of `fn`; with `replacing`, only if that is still active.
        With `shares` ([version, percent] pairs), a rollout of those versions, `version` the largest share.

        The function row is locked first, so concurrent deploys of one function queue up and exactly one
        deployment stays active (PostgreSQL would otherwise let both see no conflicting active row).
        """
        db = Deployment._meta.db
        async with db.transaction():
            if isinstance(db, PostgresEngine):
                await Function.raw("SELECT id FROM edgefn_function WHERE id = {} FOR UPDATE", fn["id"])
            if replacing is not None:
                current = await self._active(fn["id"])
                if current is None or current["version"] != replacing:
                    raise ApiError(
                        409, "conflict", f"the deployment of {fn['name']!r} changed meanwhile; retry"
                    )
            await Deployment.update({Deployment.active: False}).where(
                (Deployment.function == fn["id"]) & (Deployment.active == True)  # noqa: E712
            )
            row = Deployment(
                function=fn["id"],
                version=version,
                selector=selector_expr,
                shares=shares or [],
                active=True,
                created_by=subject,
            )
            await row.save()
            await take_secrets(self.secrets, fn, [v for v, _ in shares or []] or [version], row.id)
        await self.notifier.bump()

    async def rollback(
        self, project: dict[str, Any], name: str, to_version: int, subject: str
    ) -> dict[str, Any]:
        """Undeploys the current version and deploys `to_version` where the current one ran, as one change;
        ends a rollout, even one whose largest share is `to_version`."""
        fn = await self._function(project, name)
        version = await self._ready_version(fn, to_version)
        current = await self._active(fn["id"])
        if current is None:
            raise ApiError(409, "not_deployed", f"function {name!r} has no active deployment to roll back")
        if version == current["version"] and not json_list(current["shares"]):
            raise ApiError(409, "already_active", f"{name} v{version} is already the deployed version")
        await self._activate(fn, version, current["selector"], subject, replacing=current["version"])
        return {
            "function": name,
            "from_version": current["version"],
            "to_version": version,
            "selector": current["selector"],
        }

    async def rollout(
        self, project: dict[str, Any], name: str, shares: list[Share], subject: str
    ) -> dict[str, Any]:
        """Serves `shares`' versions in their shares where `name` is deployed now, as one change.

        Raises ApiError 404 for an unknown function; 422 naming the field for shares that are no
        rollout (`check_shares`), a version that is not ready, or a function not deployed.
        """
        pairs = [(s.version, s.percent) for s in shares]
        check_shares(pairs)
        fn = await self._function(project, name)
        current = await self._active(fn["id"])
        if current is None:
            raise ApiError(
                422, "not_deployed", f"function: {name!r} is not deployed; deploy it before a rollout"
            )
        for i, (version, _) in enumerate(pairs):
            try:
                await self._ready_version(fn, version)
            except ApiError as exc:
                raise ApiError(422, "not_ready", f"shares[{i}].version: {exc.detail}") from None
        primary = max(pairs, key=lambda pair: pair[1])[0]  # the first of the largest shares
        stored = [] if len(pairs) == 1 else [list(pair) for pair in pairs]
        await self._activate(
            fn, primary, current["selector"], subject, replacing=current["version"], shares=stored
        )
        return {
            "function": name,
            "selector": current["selector"],
            "shares": [{"version": v, "percent": p} for v, p in pairs],
        }

    async def undeploy(self, project: dict[str, Any], name: str) -> None:
        fn = await self._function(project, name)
        await Deployment.update({Deployment.active: False}).where(
            (Deployment.function == fn["id"]) & (Deployment.active == True)  # noqa: E712
        )
        await self.notifier.bump()

    async def _active(self, function_pk: int) -> dict[str, Any] | None:
        return (
            await Deployment.select()
            .where(
                (Deployment.function == function_pk) & (Deployment.active == True)  # noqa: E712
            )
            .first()
        )

    async def list_deployments(self, project: dict[str, Any]) -> list[ActiveDeployment]:
        changed = await self.secrets.changed(project) if self.secrets else set()
        rows = await Deployment.select(
            Deployment.id,
            Deployment.version,
            Deployment.selector,
            Deployment.shares,
            Deployment.created_at,
            Deployment.function.name,
            Deployment.function.function_id,
        ).where((Deployment.function.project == project["id"]) & (Deployment.active == True))  # noqa: E712
        return [
            ActiveDeployment(
                function=r["function.name"],
                function_id=r["function.function_id"],
                version=r["version"],
                selector=r["selector"],
                created_at=r["created_at"].isoformat(),
                shares=[Share(version=v, percent=p) for v, p in json_list(r["shares"])],
                secrets_changed=r["id"] in changed,
            )
            for r in rows
        ]

    async def desired_for(
        self, labels: dict[str, str], *, revision: int, blocked: tuple[str, ...]
    ) -> DesiredState:
        """What a node with `labels` should run: active deployments its labels match, and their routes."""
        rows = await Deployment.select(
            Deployment.id,
            Deployment.version,
            Deployment.selector,
            Deployment.shares,
            Deployment.function.id,
            Deployment.function.function_id,
            Deployment.function.name,
            Deployment.function.project.name,  # type: ignore[union-attr]
        ).where(Deployment.active == True)  # noqa: E712
        chosen = [r for r in rows if _matches(r["selector"], labels)]
        places = {r["id"]: (r["function.project.name"], r["function.name"]) for r in chosen}
        secret_values = await self.secrets.values(places) if self.secrets else {}
        functions = []
        rollouts = []
        for r in chosen:
            shares = tuple((int(v), int(p)) for v, p in json_list(r["shares"]))
            if shares:
                rollouts.append(Rollout(function_id=r["function.function_id"], shares=shares))
            for version in [v for v, _ in shares] or [r["version"]]:
                fv = (
                    await FunctionVersion.select()
                    .where(
                        (FunctionVersion.function == r["function.id"]) & (FunctionVersion.version == version)
                    )
                    .first()
                    .output(load_json=True)
                )
                if fv is None:
                    continue
                functions.append(
                    FunctionDeployment(
                        function_id=r["function.function_id"],
                        project=r["function.project.name"],
                        name=r["function.name"],
                        version=fv["version"],
                        artifact_url=await self.store.download_url(fv["artifact_key"], ttl_s=self.url_ttl_s),
                        sha256=fv["sha256"],
                        entrypoint=fv["entrypoint"],
                        secret_values=_granted(secret_values.get(r["id"], {}), fv),
                        **version_limits(fv),
                    )
                )
        deployed = {r["function.id"]: r["function.function_id"] for r in chosen}
        routes: list[RouteSpec] = []
        if deployed:
            for r in (
                await Route.select(
                    Route.host, Route.path, Route.methods, Route.priority, Route.function, Route.project.name
                )
                .where(Route.function.is_in(list(deployed)))
                .output(load_json=True)
            ):
                routes.append(
                    RouteSpec(
                        host=r["host"],
                        path=r["path"],
                        methods=tuple(r["methods"] or ()),
                        function_id=deployed[r["function"]],
                        project=r["project.name"],
                        priority=r["priority"],
                    )
                )
        claims = await Route.select(Route.host, Route.project.name).where(Route.host != "*").distinct()
        return DesiredState(
            revision=revision,
            functions=tuple(functions),
            routes=tuple(routes),
            host_claims=tuple(HostClaim(host=c["host"], project=c["project.name"]) for c in claims),
            blocked_tenants=blocked,
            rollouts=tuple(rollouts),
        )


def _matches(expr: str, labels: dict[str, str]) -> bool:
    try:
        return selector(expr).matches(labels)
    except SelectorError:
        return False


def _granted(values: dict[str, str], version: dict[str, Any]) -> dict[str, str]:
    """The deployment's secret values that this version names: in a rollout, each version sees only
    its own (the deployment took the secrets every one of its versions names)."""
    return {name: values[name] for name in json_list(version["secrets"]) if name in values}
