"""Developer bearer tokens: minting (`edgefn token`) and validation for the CP API.

Validation uses joserfc (what authlib's JOSE support now builds on). The accepted
algorithms are pinned by configuration and each key is imported with its own
type, so `alg: none` and HMAC-with-the-public-key confusion cannot verify.

`validate` is synchronous. When a JWKS fetch is due it does blocking HTTP, so
async callers use `avalidate`, which moves only those validations to a worker
thread and checks the rest inline.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jws, jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import ECKey, Key, import_key
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from edgehost.files import read_or_create

# An unknown `kid` triggers at most one JWKS fetch per interval, so forged kids cannot hammer the IdP.
_REFETCH_INTERVAL_S = 30.0
# Cached JWKS are refreshed this often anyway, so keys the IdP withdrew stop being trusted.
_JWKS_MAX_AGE_S = 3600.0
_HTTP_TIMEOUT_S = 5.0


class AuthError(Exception):
    """The request is not authenticated (HTTP 401); the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_or_create_signing_key(path: Path) -> bytes:
    """The EC P-256 PEM private key at `path`, created (mode 0600) if missing."""
    return read_or_create(path, _new_key_pem)


def _new_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def mint_token(
    *,
    key_pem: bytes,
    subject: str,
    issuer: str = "edgefn",
    audience: str = "edgefn",
    ttl_s: int = 3600,
    kid: str | None = None,
) -> str:
    """An ES256 JWT for `subject`."""
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", **({"kid": kid} if kid else {})}
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(header, claims, ECKey.import_key(key_pem), algorithms=["ES256"])


class TokenValidator:
    """Validates developer JWTs against static PEM keys and/or an IdP's JWKS.

    `clock` (monotonic seconds) only paces JWKS fetches; token times use the wall clock.
    """

    def __init__(
        self,
        *,
        keys: list[bytes] | None = None,
        jwks_url: str | None = None,
        issuer: str | None = "edgefn",
        audience: str | None = "edgefn",
        algorithms: Sequence[str] = ("ES256",),
        leeway_s: int = 30,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not keys and not jwks_url:
            raise ValueError("TokenValidator needs static keys or a JWKS URL")
        if not algorithms or any(alg.lower() == "none" for alg in algorithms):
            raise ValueError("TokenValidator needs signing algorithms, and 'none' is not one")
        self._static = [_import_public_pem(pem) for pem in keys or []]
        self._jwks_url = jwks_url
        self._algorithms = frozenset(algorithms)
        # Unregistered header parameters are ignored as RFC 7515 says; `crit` is still enforced.
        self._registry = JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
        # sub must be a non-blank string and exp present; a None issuer/audience is not checked.
        self._claims_registry = JWTClaimsRegistry(
            leeway=leeway_s,
            iss=_expect(issuer),
            aud=_expect(audience),
            sub={"essential": True},
            exp={"essential": True},
        )
        self._own_http = http is None and jwks_url is not None
        self._http = httpx.Client(timeout=_HTTP_TIMEOUT_S) if self._own_http else http
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks: dict[str | None, list[Key]] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def close(self) -> None:
        """Close the HTTP client if this validator created it."""
        if self._own_http and self._http is not None:
            self._http.close()

    def validate(self, token: str) -> str:
        """Return the token's subject, or raise AuthError."""
        obj, kid = self._parse(token)
        keys = self._static + self._jwks_keys(kid)
        if not any(self._verifies(obj, key) for key in keys):
            raise AuthError("bad token signature or unknown signing key")
        return self._subject(obj.payload)

    async def avalidate(self, token: str) -> str:
        """`validate` for the event loop: a due JWKS fetch runs in a worker thread."""
        _, kid = self._parse(token)
        if self._fetch_due(kid):
            return await asyncio.to_thread(self.validate, token)
        return self.validate(token)

    def _parse(self, token: str) -> tuple[jws.CompactSignature, str | None]:
        if not token:
            raise AuthError("missing bearer token")
        try:
            obj = jws.extract_compact(token.encode(), registry=self._registry)
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise AuthError("malformed token") from None
        header = obj.headers()
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise AuthError(f"token algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        return obj, kid if isinstance(kid, str) else None

    def _verifies(self, obj: jws.CompactSignature, key: Key) -> bool:
        try:
            return jws.validate_compact(obj, key, registry=self._registry)
        except (JoseError, ValueError):  # e.g. the key's type does not fit the algorithm
            return False

    def _subject(self, payload: bytes | None) -> str:
        try:
            claims = json.loads(payload or b"")
        except ValueError:
            raise AuthError("malformed token claims") from None
        if not isinstance(claims, dict):
            raise AuthError("malformed token claims")
        try:
            self._claims_registry.validate(claims)
        except ExpiredTokenError:
            raise AuthError("token expired") from None
        except ClaimError as exc:
            if exc.claim == "nbf":
                raise AuthError("token not yet valid") from None
            raise AuthError(f"invalid token: {exc.description}") from None
        subject: str = claims["sub"]
        return subject

    def _fetch_due(self, kid: str | None) -> bool:
        if self._jwks_url is None:
            return False
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < _REFETCH_INTERVAL_S:
            return False
        stale = self._fetched_at is None or now - self._fetched_at >= _JWKS_MAX_AGE_S
        return stale or (kid is not None and kid not in self._jwks)

    def _jwks_keys(self, kid: str | None) -> list[Key]:
        with self._lock:
            if self._fetch_due(kid):
                self._fetch()
            if kid is None:
                return [key for keys in self._jwks.values() for key in keys]
            return list(self._jwks.get(kid, []))

    def _fetch(self) -> None:
        """Replace the cached JWKS; on failure keep the old keys until the next due fetch."""
        assert self._jwks_url is not None and self._http is not None
        self._attempted_at = self._clock()
        try:
            response = self._http.get(self._jwks_url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            return
        entries = document.get("keys") if isinstance(document, dict) else None
        jwks: dict[str | None, list[Key]] = {}
        for entry in entries if isinstance(entries, list) else []:
            # A symmetric key in a public document would let anyone sign; only signing keys count.
            if not isinstance(entry, dict) or entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
                continue
            try:
                key = import_key(entry)
            except (JoseError, ValueError, TypeError):
                continue
            jwks.setdefault(entry.get("kid"), []).append(key)
        self._jwks = jwks
        self._fetched_at = self._attempted_at


def _import_public_pem(pem: bytes) -> Key:
    """Import the public half of a PEM key with an explicit type, so no key is ever read as an HMAC secret."""
    try:
        public = serialization.load_pem_public_key(pem)
    except ValueError:
        public = serialization.load_pem_private_key(pem, password=None).public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if isinstance(public, ec.EllipticCurvePublicKey):
        return import_key(public_pem, "EC")
    if isinstance(public, rsa.RSAPublicKey):
        return import_key(public_pem, "RSA")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return import_key(public_pem, "OKP")
    raise ValueError(f"unsupported key type {type(public).__name__}")


def _expect(value: str | None) -> jwt.ClaimsOption:
    return {"essential": False} if value is None else {"essential": True, "value": value}
