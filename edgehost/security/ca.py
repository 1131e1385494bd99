"""A small file-based CA for the node listener's mutual TLS (`edgefn ca`).

Keys are EC P-256 written as unencrypted PKCS#8 PEM with mode 0600, because
granian (rustls) only reads PKCS#8 key files. Certificates carry the
extensions a strict RFC 5280 verifier (rustls, cryptography's verifier) needs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edgehost.files import write_atomic

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_NAME = "server"
NODE_URI_PREFIX = "urn:edgefn:node:"

_CA_DAYS = 3650
_LEAF_DAYS = 365
# Backdating absorbs small clock differences between the CA host and verifiers.
_BACKDATE = dt.timedelta(minutes=5)
_NODE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
# Names whose files would clobber the CA or the server certificate.
_RESERVED_NODE_IDS = frozenset({"ca", SERVER_NAME})
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.IGNORECASE)


class CAError(Exception):
    """A CA operation was refused; the message is meant for the operator."""


def init_ca(directory: Path, *, common_name: str = "edgefn CA") -> tuple[Path, Path]:
    """Create a self-signed CA in `directory`; returns (cert path, key path)."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    refusal = CAError(f"A CA already exists in {directory}; refusing to overwrite it.")
    if cert_path.exists() or key_path.exists():
        raise refusal
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=False, cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    try:
        _write_key(key_path, key, replace=False)
    except FileExistsError:  # another `ca init` won the race
        raise refusal from None
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def issue_node(directory: Path, node_id: str) -> tuple[Path, Path]:
    """Issue a client certificate naming `node_id` (CN and SAN URI); writes NODE_ID.pem/.key."""
    if not _NODE_ID.fullmatch(node_id) or node_id in _RESERVED_NODE_IDS:
        raise CAError(
            f"Invalid node id {node_id!r}: use 1-63 characters from a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit, and not 'ca' or 'server'."
        )
    return _issue(
        directory,
        node_id,
        common_name=node_id,
        sans=[x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_id)],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )


def issue_server(directory: Path, hostname: str, *extra: str) -> tuple[Path, Path]:
    """Issue the CP's server certificate for `hostname` and any `extra` names; writes server.pem/.key."""
    return _issue(
        directory,
        SERVER_NAME,
        common_name=hostname,
        sans=[_host_san(name) for name in (hostname, *extra)],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )


def node_id_of(cert: x509.Certificate) -> str | None:
    """The node id named by the certificate's single `urn:edgefn:node:` SAN URI, if any."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    ids = [
        uri[len(NODE_URI_PREFIX) :]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(NODE_URI_PREFIX)
    ]
    if len(ids) != 1 or not _NODE_ID.fullmatch(ids[0]):
        return None
    return ids[0]


def _issue(
    directory: Path,
    stem: str,
    *,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
) -> tuple[Path, Path]:
    ca_cert, ca_key = _load_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    not_after = min(now + dt.timedelta(days=_LEAF_DAYS), ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    _write_key(key_path, key, replace=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    except FileNotFoundError:
        raise CAError(f"No CA in {directory}; run `edgefn ca init --dir {directory}` first.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError(f"The CA key in {directory} is not an EC key.")
    return cert, key


def _host_san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise CAError(f"Invalid host name {name!r}: use an IP address or an ASCII DNS name.")
    return x509.DNSName(name.lower())


def _key_usage(*, digital_signature: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, *, replace: bool) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(path, pem, exclusive=not replace)
