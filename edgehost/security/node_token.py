"""Per-request node credentials for the CP's node listener.

granian verifies the node's client certificate during the TLS handshake but does
not hand it to the app, so the app cannot tell which node is calling. Each node
request therefore carries a short-lived ES256 JWS signed with the node's
certificate key, with the certificate in the `x5c` header; the CP checks the
certificate against its CA, the signature, the node id and the allow-list.

Both sides do the expensive part once per certificate: a node parses its PEMs once
(`NodeSigner`), and the CP remembers each certificate it has verified (its key and node
id, until the certificate or the CA expires) and each header segment a trusted certificate
signed, so a request costs one signature check and the claims checks.
"""

from __future__ import annotations

import base64
import datetime as dt
import heapq
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Collection
from typing import NamedTuple

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from edgehost.security.ca import node_id_of

_ALG = "ES256"
# Clock skew tolerated between a node and the CP.
_LEEWAY_S = 30
# Upper bound on remembered token ids; beyond it new tokens are refused rather than
# forgetting ids early, which would reopen the replay window. An id is kept for its token's
# lifetime plus the leeway (90 s for a runner's 60 s tokens), so 2,000 node requests/s keep
# 180,000; at about 260 bytes each, the bound caps the memory near 65 MB.
_MAX_TRACKED_JTI = 250_000
# Upper bound on remembered verified certificates (one per node, so far above a fleet's size).
_MAX_TRUSTED_CERTS = 100_000
# Upper bound on remembered header segments (one per node; each up to _MAX_HEADER_BYTES).
_MAX_HEADERS = 20_000
# Only ES256; the header limit is raised because x5c carries a whole certificate.
_MAX_HEADER_BYTES = 4096
_MAX_PAYLOAD_BYTES = 2048
_MAX_SIGNATURE_BYTES = 1024
_REGISTRY = JWSRegistry(algorithms=[_ALG])
_REGISTRY.max_header_length = _MAX_HEADER_BYTES
_REGISTRY.max_payload_length = _MAX_PAYLOAD_BYTES
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_ESSENTIAL_CLAIMS = ("sub", "aud", "iat", "exp", "jti")
_TIME_CLAIMS = ("exp", "iat", "nbf")


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
    done once per certificate. A node's header segment never changes either: once a trusted
    certificate signed it, it is remembered with its `x5c` and not parsed again. The signature
    (checked by `cryptography` with the remembered key; joserfc's per-token key import and object
    model cost more than the ECDSA check itself), the claims, the token's expiry, the replay memory
    and the allow-list are checked on every request. The replay memory is per process: with several
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
        self._max_ttl_s = max_ttl_s
        self._seen = _ReplayCache(_MAX_TRACKED_JTI)
        self._trusted: dict[str, _Identity] = {}
        self._headers: dict[bytes, str] = {}
        self._audience = audience
        self._clock = clock

    def verify(self, token: str, allow: Collection[str]) -> str:
        """Return the node id the token authenticates if it is in `allow`, or raise NodeAuthError."""
        header, payload, signature = _segments(token)
        x5c = self._headers.get(header) or _header_x5c(header)
        identity = self._identity(x5c)
        try:
            claims_json = _b64decode(payload)
            valid = _es256_valid(identity.key, header + b"." + payload, _b64decode(signature))
        except ValueError:
            raise NodeAuthError(401, "malformed node token") from None
        if not valid:
            raise NodeAuthError(401, "bad node token signature")
        self._remember_header(header, x5c)
        claims = self._claims(claims_json)
        if identity.node_id is None:
            raise NodeAuthError(403, "certificate names no node")
        if claims.sub != identity.node_id:
            raise NodeAuthError(403, "token subject is not the certificate's node")
        if identity.node_id not in allow:
            raise NodeAuthError(403, f"node {identity.node_id!r} is not allowed")
        self._seen.add((identity.node_id, claims.jti), claims.exp + _LEEWAY_S, self._clock())
        return identity.node_id

    def _remember_header(self, segment: bytes, x5c: str) -> None:
        """Keeps a header only once a trusted certificate signed it, so strangers cannot fill the memory."""
        if segment not in self._headers:
            if len(self._headers) >= _MAX_HEADERS:
                self._headers.clear()  # rare (certificate churn); parsed again on next use
            self._headers[segment] = x5c

    def _identity(self, x5c: str) -> _Identity:
        """The key and node id of a certificate, chain-checked once per certificate."""
        known = self._trusted.get(x5c)
        if known is not None and self._clock() < known.trusted_until:
            return known
        cert = self._verified_cert(x5c)
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            raise NodeAuthError(401, "node certificate key is not EC P-256")
        until = min(cert.not_valid_after_utc.timestamp(), self._ca_not_after)
        identity = _Identity(public_key, node_id_of(cert), until)
        if len(self._trusted) >= _MAX_TRUSTED_CERTS:
            self._trusted.clear()  # rare (certificate churn); they are verified again on next use
        self._trusted[x5c] = identity
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

    def _claims(self, payload: bytes) -> _Claims:
        """The claims, checked as joserfc's JWT claims registry did (written out, as the registry cost
        more than the signature check): each essential claim present and of its type, the audience,
        the times within `_LEEWAY_S` (`nbf` and `iss` too when present), and the token's lifetime."""
        try:
            claims = msgspec.json.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise NodeAuthError(401, "malformed node token claims") from None
        if not isinstance(claims, dict):
            raise NodeAuthError(401, "malformed node token claims")
        missing = [name for name in _ESSENTIAL_CLAIMS if claims.get(name) is None]
        if missing:
            raise NodeAuthError(401, f"invalid node token claims: missing {', '.join(missing)}")
        sub, jti, aud = claims["sub"], claims["jti"], claims["aud"]
        if not isinstance(sub, str) or not sub:
            raise _invalid_claim("sub")
        if not isinstance(jti, str) or not jti:
            raise _invalid_claim("jti")
        if aud != self._audience and not (
            isinstance(aud, list) and self._audience in aud and all(isinstance(a, str) for a in aud)
        ):
            raise _invalid_claim("aud")
        if "iss" in claims and not isinstance(claims["iss"], str):
            raise _invalid_claim("iss")
        for name in _TIME_CLAIMS:
            if name in claims and not _numeric_date(claims[name]):
                raise _invalid_claim(name)
        now = int(self._clock())
        if claims["exp"] <= now - _LEEWAY_S:
            raise NodeAuthError(401, "node token expired")
        if claims["iat"] > now + _LEEWAY_S:
            raise _invalid_claim("iat", "the token was issued in the future")
        if claims.get("nbf", now) > now + _LEEWAY_S:
            raise _invalid_claim("nbf", "the token is not yet valid")
        parsed = _Claims(sub=sub, jti=jti, iat=claims["iat"], exp=claims["exp"])
        if parsed.exp - parsed.iat > self._max_ttl_s:
            raise NodeAuthError(401, f"node token lifetime exceeds {self._max_ttl_s}s")
        return parsed


def _invalid_claim(name: str, why: str = "missing, of the wrong type or not accepted") -> NodeAuthError:
    return NodeAuthError(401, f"invalid node token claims: {name!r} {why}")


def _numeric_date(value: object) -> bool:
    """A JSON number that is not NaN or infinite (every comparison with NaN is false: it never expires)."""
    return not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    )


def _header_x5c(segment: bytes) -> str:
    """The one certificate in a token's header, after the header passed joserfc's registry checks."""
    try:
        header = json.loads(_b64decode(segment)) if len(segment) <= _MAX_HEADER_BYTES else None
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or "alg" not in header:
        raise NodeAuthError(401, "malformed node token")
    if header["alg"] != _ALG:
        raise NodeAuthError(401, f"node token algorithm must be {_ALG}")
    try:
        _REGISTRY.check_header(header)
    except JoseError as exc:
        raise NodeAuthError(401, f"invalid node token header: {exc}") from None
    if header.get("b64", True) is not True:  # RFC 7797 unencoded payload: no node signs one
        raise NodeAuthError(401, "node token payload must be base64url-encoded")
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or len(x5c) != 1 or not isinstance(x5c[0], str):
        raise NodeAuthError(401, "node token needs exactly one certificate in x5c")
    return x5c[0]


def _segments(token: str) -> tuple[bytes, bytes, bytes]:
    """The header, payload and signature segments of a compact JWS, within joserfc's size limits."""
    parts = token.encode().split(b".")
    if len(parts) != 3 or len(parts[1]) > _MAX_PAYLOAD_BYTES or len(parts[2]) > _MAX_SIGNATURE_BYTES:
        raise NodeAuthError(401, "malformed node token")
    return parts[0], parts[1], parts[2]


def _b64decode(segment: bytes) -> bytes:
    """base64url without padding, as JWS segments are (ValueError if it is not)."""
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def _es256_valid(key: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Checks a JWS ES256 signature: r and s as 32 big-endian bytes each (RFC 7518 3.4)."""
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


class _Identity(NamedTuple):
    """What a verified certificate proves, and until when (epoch seconds) it may be trusted."""

    key: ec.EllipticCurvePublicKey
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
