"""Built-in plugin: developer JWTs (signing key or JWKS) and node credentials (x5c, CA, allow-list)."""

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


@cache
def _allowed(allow: tuple[str, ...]) -> frozenset[str]:
    return frozenset(allow)


@hookimpl
def edgehost_authenticate_developer(token: str, ctx: AppContext) -> Any:
    auth = ctx.settings.auth
    if not (auth.signing_key_file or auth.jwks_url):
        raise AuthError("this control plane has no auth.signing_key_file or auth.jwks_url configured")
    # A coroutine: JWKS refreshes do network I/O, which must stay off the event loop.
    return _validator(auth.signing_key_file, auth.jwks_url, auth.issuer, auth.audience).avalidate(token)


@hookimpl
def edgehost_authenticate_node(token: str, ctx: AppContext) -> str:
    ca_file = ctx.settings.tls.ca_file
    if not ca_file:
        raise NodeAuthError(401, "this control plane has no tls.ca_file to verify node certificates with")
    return _node_verifier(ca_file).verify(token, _allowed(tuple(ctx.settings.nodes.allow)))
