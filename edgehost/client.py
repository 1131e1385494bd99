"""A synchronous client for the developer API that decodes answers into the CP's own schemas.

The project layer (`project/apply.py`), the CLI and the benchmarks talk to a control plane through
it. Typed methods decode into `controlplane/schemas.py`, so an answer that does not match what the
CP declares fails here, at the boundary, with a sentence; `call` is the untyped way for the few
answers that have no schema yet. Every failure (unreachable, refused, malformed) is a `ClientError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import msgspec

from edgehost.controlplane import schemas

CHUNK = 64 * 1024
T = TypeVar("T")


class ClientError(Exception):
    """The control plane or the artifact store could not be reached, refused, or answered nonsense."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# A finalize compiles a component on the control plane (5-15 s for a componentize-py one) and may
# wait behind other projects' checks (project_queue.py): longer than any other call.
FINALIZE_TIMEOUT_S = 300.0


class ApiClient:
    def __init__(self, api: str, token: str, *, timeout: float = 60.0) -> None:
        self.api = api.rstrip("/")
        self.http = httpx.Client(
            base_url=self.api, headers={"authorization": f"Bearer {token}"}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Typed: the answers of the operations the project layer uses.
    def functions(self, project: str) -> schemas.FunctionList:
        """The project's functions and versions; none for a project that does not exist yet."""
        return self._typed(
            schemas.FunctionList, "GET", f"/v1/projects/{project}/functions", missing=schemas.FunctionList([])
        )

    def routes(self, project: str) -> schemas.RoutesPut:
        return self._typed(
            schemas.RoutesPut, "GET", f"/v1/projects/{project}/routes", missing=schemas.RoutesPut([])
        )

    def deployments(self, project: str) -> schemas.DeploymentList:
        return self._typed(
            schemas.DeploymentList,
            "GET",
            f"/v1/projects/{project}/deployments",
            missing=schemas.DeploymentList([]),
        )

    def create_function(self, project: str, spec: schemas.FunctionCreate) -> schemas.FunctionCreated:
        return self._typed(schemas.FunctionCreated, "POST", f"/v1/projects/{project}/functions", json=spec)

    def finalize(self, created: schemas.FunctionCreated) -> schemas.VersionInfo:
        """Waits up to FINALIZE_TIMEOUT_S: the control plane checks the upload, which for a
        component means compiling it, behind at most one check per other project."""
        return self._typed(schemas.VersionInfo, "POST", created.finalize_url, timeout=FINALIZE_TIMEOUT_S)

    def put_routes(self, project: str, routes: schemas.RoutesPut) -> None:
        self.call("PUT", f"/v1/projects/{project}/routes", json=msgspec.to_builtins(routes))

    def deploy(self, project: str, deployment: schemas.DeploymentIn) -> schemas.Deployed:
        return self._typed(schemas.Deployed, "POST", f"/v1/projects/{project}/deployments", json=deployment)

    def undeploy(self, project: str, function: str) -> None:
        self.call("POST", f"/v1/projects/{project}/functions/{function}/undeploy")

    def _typed(
        self,
        kind: type[T],
        method: str,
        path: str,
        *,
        json: msgspec.Struct | None = None,
        missing: T | None = None,
        timeout: float | None = None,
    ) -> T:
        body = self.call(
            method,
            path,
            json=None if json is None else msgspec.to_builtins(json),
            ok_missing=missing is not None,
            timeout=timeout,
        )
        if body is None and missing is not None:
            return missing
        try:
            return msgspec.convert(body, kind)
        except msgspec.ValidationError as exc:
            raise ClientError(
                f"the control plane's answer to {method} {path} is not a {kind.__name__}: {exc}"
            ) from None

    # Untyped.
    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        ok_missing: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON answer (None for a 404 with `ok_missing`); raises ClientError.
        `timeout` (seconds) replaces the client's own for this call."""
        try:
            response = self.http.request(
                method,
                path,
                json=json,
                params=params,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the control plane at {self.api}: {exc}") from None
        if ok_missing and response.status_code == 404:
            return None
        return self.decode(response)

    def raw(
        self, method: str, path: str, *, params: dict[str, str] | None = None, content: bytes | None = None
    ) -> bytes:
        """A call whose request or answer body is bytes, not JSON (the KV values); errors as `call`."""
        try:
            response = self.http.request(method, path, params=params, content=content)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the control plane at {self.api}: {exc}") from None
        if response.is_error:
            self.decode(response)
        return response.content

    @staticmethod
    def decode(response: httpx.Response) -> Any:
        """The JSON body of a success; raises ClientError with the CP's `error` and `detail` otherwise."""
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {"error": "bad_response", "detail": response.text[:300]}
        if response.is_error:
            detail = body.get("detail") if isinstance(body, dict) else body
            error = body.get("error", "error") if isinstance(body, dict) else "error"
            raise ClientError(f"the control plane refused ({response.status_code} {error}): {detail}")
        return body

    def upload(self, url: str, data: bytes, progress: Callable[[int], None] | None = None) -> None:
        """PUTs the artifact to its presigned URL (the CP itself or an S3 store), reporting bytes sent."""
        if url.startswith("/"):
            url = self.api + url

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), CHUNK):
                piece = data[start : start + CHUNK]
                yield piece
                if progress:
                    progress(len(piece))

        try:
            response = httpx.put(
                url, content=chunks(), headers={"content-length": str(len(data))}, timeout=120.0
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"upload to the artifact store failed: {exc}") from None
        if response.is_error:
            raise ClientError(
                f"the artifact store refused the upload ({response.status_code}): {response.text[:300]}"
            )
