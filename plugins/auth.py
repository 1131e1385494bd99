"""Built-in plugin: developer JWTs (signing key or JWKS), the operator role (`auth.operators`) and
node credentials (x5c, CA, allow-list)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from edgehost.context import AppContext
from edgehost.hookspecs import hookimpl
from edgehost.security.dev_tokens import AuthError, TokenValidator
from edgehost.security.node_token import NodeAuthError, NodeTokenVerifier


@cache
def _validator(key_file: str, jwks_url: str, issuer: str, audience: str) -> TokenValidator:
    keys = [Path(key_file).read_bytes()] if key_file else None
    return TokenValidator(
        keys=keys, jwks_url=jwks_url or None, issuer=issuer or None, audience=audience or None
    )


@cache
def _node_verifier(ca_file: str) -> NodeTokenVerifier:
    return NodeTokenVerifier(Path(ca_file).read_bytes())


class _AllowSet:
    """`nodes.allow` as a set, rebuilt when the list changes: comparing the list costs far less than
    hashing a tuple of the whole fleet's ids (a cache key) on every node request."""

    def __init__(self) -> None:
        self._list: list[str] = []
        self._set: frozenset[str] = frozenset()

    def __call__(self, allow: list[str]) -> frozenset[str]:
        if allow != self._list:
            self._list, self._set = list(allow), frozenset(allow)
        return self._set


_allowed = _AllowSet()


@hookimpl
def edgehost_authenticate_developer(token: str, ctx: AppContext) -> Any:
    auth = ctx.settings.auth
    if not (auth.signing_key_file or auth.jwks_url):
        raise AuthError("this control plane has no auth.signing_key_file or auth.jwks_url configured")
    # A coroutine: JWKS refreshes do network I/O, which must stay off the event loop.
    return _validator(auth.signing_key_file, auth.jwks_url, auth.issuer, auth.audience).avalidate(token)


@hookimpl
def edgehost_authorize_operator(subject: str, ctx: AppContext) -> bool:
    return subject in ctx.settings.auth.operators


@hookimpl
def edgehost_authenticate_node(token: str, ctx: AppContext) -> str:
    ca_file = ctx.settings.tls.ca_file
    if not ca_file:
        raise NodeAuthError(401, "this control plane has no tls.ca_file to verify node certificates with")
    return _node_verifier(ca_file).verify(token, _allowed(ctx.settings.nodes.allow))
