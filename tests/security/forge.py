"""Attacker-side helpers: certificates and tokens built directly, not through the code under test."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_b64(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _signing_input(header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


def es256(header: Mapping[str, object], claims: Mapping[str, object], key_pem: bytes) -> str:
    """A JWS signed with ES256 (raw r||s signature) whatever the header says."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signing_input = _signing_input(header, claims)
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def hs256(header: Mapping[str, object], claims: Mapping[str, object], secret: bytes) -> str:
    """A JWS MACed with `secret`, e.g. a public key PEM (algorithm confusion)."""
    signing_input = _signing_input(header, claims)
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def unsigned(header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    return _signing_input(header, claims) + "."


def public_pem(cert_or_key_pem: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of a certificate or private key."""
    if b"CERTIFICATE" in cert_or_key_pem:
        public = x509.load_pem_x509_certificate(cert_or_key_pem).public_key()
    else:
        private = serialization.load_pem_private_key(cert_or_key_pem, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        public = private.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def leaf(
    ca_dir: Path,
    node_id: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
    curve: ec.EllipticCurve | None = None,
) -> tuple[bytes, bytes]:
    """A node certificate signed by the CA in `ca_dir` with chosen validity, usage and curve."""
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(curve or ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"urn:edgefn:node:{node_id}")]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
