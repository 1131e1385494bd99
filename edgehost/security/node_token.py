"""Per-request node credentials for the CP's node listener.

granian verifies the node's client certificate during the TLS handshake but does
not hand it to the app, so the app cannot tell which node is calling. Each node
request therefore carries a short-lived ES256 JWS signed with the node's
certificate key, with the certificate in the `x5c` header; the CP checks the
certificate against its CA, the signature, the node id and the allow-list.

Both sides do the expensive part once per certificate: a node parses its PEMs once
(`NodeSigner`), and the CP remembers each certificate it has verified (its key and node
id, until the certificate or the CA expires), so a request costs one signature check.
"""

from __future__ import annotations

import base64
import datetime as dt
import heapq
import json
import secrets
import threading
import time
from collections.abc import Callable, Collection
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from joserfc import jws
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from edgehost.security.ca import node_id_of

_ALG = "ES256"
# Clock skew tolerated between a node and the CP.
_LEEWAY_S = 30
# Upper bound on remembered token ids; beyond it new tokens are refused rather than
# forgetting ids early, which would reopen the replay window.
_MAX_TRACKED_JTI = 100_000
# Upper bound on remembered verified certificates (one per node, so far above a fleet's size).
_MAX_TRUSTED_CERTS = 100_000
# Only ES256; the header limit is raised because x5c carries a whole certificate.
_REGISTRY = JWSRegistry(algorithms=[_ALG])
_REGISTRY.max_header_length = 4096
_REGISTRY.max_payload_length = 2048


class NodeAuthError(Exception):
    """A node request was refused: 401 (not authenticated) or 403 (authenticated, not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NodeSigner:
    """Signs node tokens with a certificate and key parsed once; each token costs one ES256 signature."""

    def __init__(
        self, *, node_id: str, cert_pem: bytes, key_pem: bytes, audience: str = "edgefn-cp", ttl_s: int = 60
    ) -> None:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise ValueError("The node key is not the EC private key of the node certificate.")
        der = cert.public_bytes(serialization.Encoding.DER)
        self._header = {"alg": _ALG, "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        self._key = ECKey.import_key(key_pem)
        self._node_id, self._audience, self._ttl_s = node_id, audience, ttl_s

    def token(self) -> str:
        """A compact ES256 JWS for one request, with a fresh `jti`."""
        now = int(time.time())
        claims = {
            "sub": self._node_id,
            "aud": self._audience,
            "iat": now,
            "exp": now + self._ttl_s,
            "jti": secrets.token_urlsafe(16),
        }
        payload = json.dumps(claims, separators=(",", ":"))
        return jws.serialize_compact(self._header, payload, self._key, registry=_REGISTRY)


def sign_node_token(
    *, node_id: str, cert_pem: bytes, key_pem: bytes, audience: str = "edgefn-cp", ttl_s: int = 60
) -> str:
    """One token, parsing the PEMs each time; long-lived callers keep a `NodeSigner` instead."""
    return NodeSigner(
        node_id=node_id, cert_pem=cert_pem, key_pem=key_pem, audience=audience, ttl_s=ttl_s
    ).token()


class NodeTokenVerifier:
    """Verifies node tokens against the CA and an allow-list, refusing replays.

    A certificate that passed the chain check is remembered by its `x5c` string with its key and
    node id until it or the CA expires (at most `_MAX_TRUSTED_CERTS` of them), so the X.509 work is
    done once per certificate. The signature, the claims, the token's expiry, the replay memory and
    the allow-list are checked on every request. The replay memory is per process: with several
    granian workers a token could be replayed once per worker within its (short) lifetime.
    """

    def __init__(
        self,
        ca_pem: bytes,
        *,
        audience: str = "edgefn-cp",
        max_ttl_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cas = x509.load_pem_x509_certificates(ca_pem)
        self._store = Store(cas)
        self._ca_not_after = min(ca.not_valid_after_utc for ca in cas).timestamp()
        self._audience = audience
        self._max_ttl_s = max_ttl_s
        self._seen = _ReplayCache(_MAX_TRACKED_JTI)
        self._trusted: dict[str, _Identity] = {}
        self._clock = clock

    def verify(self, token: str, allow: Collection[str]) -> str:
        """Return the node id the token authenticates if it is in `allow`, or raise NodeAuthError."""
        try:
            obj = jws.extract_compact(token.encode(), registry=_REGISTRY)
        except (JoseError, ValueError, TypeError):
            raise NodeAuthError(401, "malformed node token") from None
        header = obj.headers()
        if header.get("alg") != _ALG:
            raise NodeAuthError(401, f"node token algorithm must be {_ALG}")
        identity = self._identity(header.get("x5c"))
        try:
            valid = jws.validate_compact(obj, identity.key, registry=_REGISTRY)
        except JoseError:
            valid = False
        if not valid:
            raise NodeAuthError(401, "bad node token signature")
        claims = self._claims(obj.payload)
        if identity.node_id is None:
            raise NodeAuthError(403, "certificate names no node")
        if claims.sub != identity.node_id:
            raise NodeAuthError(403, "token subject is not the certificate's node")
        if identity.node_id not in allow:
            raise NodeAuthError(403, f"node {identity.node_id!r} is not allowed")
        self._seen.add((identity.node_id, claims.jti), claims.exp + _LEEWAY_S, self._clock())
        return identity.node_id

    def _identity(self, x5c: object) -> _Identity:
        """The key and node id of the one certificate in `x5c`, chain-checked once per certificate."""
        if not isinstance(x5c, list) or len(x5c) != 1 or not isinstance(x5c[0], str):
            raise NodeAuthError(401, "node token needs exactly one certificate in x5c")
        known = self._trusted.get(x5c[0])
        if known is not None and self._clock() < known.trusted_until:
            return known
        cert = self._verified_cert(x5c[0])
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise NodeAuthError(401, "node certificate key is not EC P-256")
        pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        until = min(cert.not_valid_after_utc.timestamp(), self._ca_not_after)
        identity = _Identity(ECKey.import_key(pem), node_id_of(cert), until)
        if len(self._trusted) >= _MAX_TRUSTED_CERTS:
            self._trusted.clear()  # rare (certificate churn); they are verified again on next use
        self._trusted[x5c[0]] = identity
        return identity

    def _verified_cert(self, x5c: str) -> x509.Certificate:
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(x5c, validate=True))
        except ValueError:
            raise NodeAuthError(401, "malformed certificate in x5c") from None
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        verifier = PolicyBuilder().store(self._store).time(now).build_client_verifier()
        try:  # also requires the clientAuth extended key usage
            verifier.verify(cert, [])
        except VerificationError as exc:
            raise NodeAuthError(401, f"node certificate not trusted: {exc}") from None
        return cert

    def _claims(self, payload: bytes | None) -> _Claims:
        try:
            claims = json.loads(payload or b"")
        except ValueError:
            raise NodeAuthError(401, "malformed node token claims") from None
        if not isinstance(claims, dict):
            raise NodeAuthError(401, "malformed node token claims")
        registry = JWTClaimsRegistry(
            leeway=_LEEWAY_S,
            aud={"essential": True, "value": self._audience},
            sub={"essential": True},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise NodeAuthError(401, "node token expired") from None
        except JoseError as exc:
            raise NodeAuthError(401, f"invalid node token claims: {exc}") from None
        parsed = _Claims(sub=claims["sub"], jti=claims["jti"], iat=claims["iat"], exp=claims["exp"])
        if parsed.exp - parsed.iat > self._max_ttl_s:
            raise NodeAuthError(401, f"node token lifetime exceeds {self._max_ttl_s}s")
        return parsed


class _Identity(NamedTuple):
    """What a verified certificate proves, and until when (epoch seconds) it may be trusted."""

    key: ECKey
    node_id: str | None
    trusted_until: float


class _Claims(NamedTuple):
    """The claims a node token must carry, after the registry has checked their types."""

    sub: str
    jti: str
    iat: float
    exp: float


class _ReplayCache:
    """Token ids seen, each kept until its token can no longer be accepted."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._ids: set[tuple[str, str]] = set()
        self._expiries: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def add(self, key: tuple[str, str], forget_at: float, now: float) -> None:
        """Remember `key`, refusing (401) one already seen or when full."""
        with self._lock:
            while self._expiries and self._expiries[0][0] <= now:
                self._ids.discard(heapq.heappop(self._expiries)[1])
            if key in self._ids:
                raise NodeAuthError(401, "node token replayed")
            if len(self._ids) >= self._limit:
                raise NodeAuthError(401, "too many outstanding node tokens; retry shortly")
            self._ids.add(key)
            heapq.heappush(self._expiries, (forget_at, key))
