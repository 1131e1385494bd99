"""A small synchronous client for the developer API that turns every failure into a `CliError`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from edgehost.cli.dev_state import find_state_dir, read_state
from edgehost.cli.errors import USAGE, CliError

DEFAULT_API = "http://127.0.0.1:8787"
CHUNK = 64 * 1024


def resolve_target(api: str | None, token: str | None, start: Path = Path(".")) -> tuple[str, str]:
    """The control plane to talk to and the token to show it: `(api_url, token)`.

    Each comes from, first to last: the flag, its environment variable (`EDGEFN_API` arrives as
    the flag through click; `EDGEFN_TOKEN`), then the state folder of the `edgefn dev` serving the
    project around `start` (its `api` and `token` files), then, for the address only,
    `DEFAULT_API`. Raises `CliError` (exit 2) when no token is found anywhere.
    """
    token = token or os.environ.get("EDGEFN_TOKEN", "")
    state_dir = None if api and token else find_state_dir(start)
    if state_dir is not None:
        api = api or read_state(state_dir, "api")
        token = token or read_state(state_dir, "token") or ""
    if not token:
        raise CliError(
            "no token: pass --token, set EDGEFN_TOKEN, or run inside the folder of a project whose "
            "`edgefn dev` ran (it writes .edgefn/token)",
            USAGE,
        )
    return (api or DEFAULT_API), token.strip()


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

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        ok_missing: bool = False,
    ) -> Any:
        try:
            response = self.http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the control plane at {self.api}: {exc}") from None
        if ok_missing and response.status_code == 404:
            return None
        return self._decode(response)

    def raw(
        self, method: str, path: str, *, params: dict[str, str] | None = None, content: bytes | None = None
    ) -> bytes:
        """A call whose request or answer body is bytes, not JSON (the KV values); errors as `call`."""
        try:
            response = self.http.request(method, path, params=params, content=content)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the control plane at {self.api}: {exc}") from None
        if response.is_error:
            self._decode(response)
        return response.content

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {"error": "bad_response", "detail": response.text[:300]}
        if response.is_error:
            detail = body.get("detail") if isinstance(body, dict) else body
            error = body.get("error", "error") if isinstance(body, dict) else "error"
            raise CliError(f"the control plane refused ({response.status_code} {error}): {detail}")
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
            raise CliError(f"upload to the artifact store failed: {exc}") from None
        if response.is_error:
            raise CliError(
                f"the artifact store refused the upload ({response.status_code}): {response.text[:300]}"
            )
