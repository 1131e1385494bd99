from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from edgehost.security.ca import CAError, init_ca, issue_node, issue_server, node_id_of


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _days(cert: x509.Certificate) -> int:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).days


def test_init_ca_writes_a_self_signed_ca_with_a_private_key(tmp_path: Path) -> None:
    cert_path, key_path = init_ca(tmp_path / "ca", common_name="test CA")

    assert (cert_path, key_path) == (tmp_path / "ca" / "ca.pem", tmp_path / "ca" / "ca.key")
    assert _mode(key_path) == 0o600
    cert = _cert(cert_path)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "test CA"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert 3649 <= _days(cert) <= 3651


def test_init_ca_refuses_to_overwrite(tmp_path: Path) -> None:
    cert_path, key_path = init_ca(tmp_path)
    before = (cert_path.read_bytes(), key_path.read_bytes())

    with pytest.raises(CAError, match="already exists"):
        init_ca(tmp_path)

    assert (cert_path.read_bytes(), key_path.read_bytes()) == before


def test_init_ca_refuses_when_only_the_key_remains(tmp_path: Path) -> None:
    _, key_path = init_ca(tmp_path)
    (tmp_path / "ca.pem").unlink()
    before = key_path.read_bytes()

    with pytest.raises(CAError):
        init_ca(tmp_path)

    assert key_path.read_bytes() == before


def test_issue_node_writes_a_client_certificate_naming_the_node(tmp_path: Path) -> None:
    init_ca(tmp_path)
    cert_path, key_path = issue_node(tmp_path, "edge-01.fra")

    assert (cert_path.name, key_path.name) == ("edge-01.fra.pem", "edge-01.fra.key")
    assert _mode(key_path) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, as granian needs
    cert = _cert(cert_path)
    cert.verify_directly_issued_by(_cert(tmp_path / "ca.pem"))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "edge-01.fra"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:edgefn:node:edge-01.fra"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert 364 <= _days(cert) <= 366
    assert node_id_of(cert) == "edge-01.fra"
    verifier = (
        PolicyBuilder()
        .store(Store([_cert(tmp_path / "ca.pem")]))
        .time(dt.datetime.now(dt.UTC))
        .build_client_verifier()
    )
    verifier.verify(cert, [])


def test_reissuing_a_node_replaces_its_key(tmp_path: Path) -> None:
    init_ca(tmp_path)
    _, key_path = issue_node(tmp_path, "n1")
    first = key_path.read_bytes()

    issue_node(tmp_path, "n1")

    assert key_path.read_bytes() != first
    assert _mode(key_path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.key", "ca.pem", "n1.key", "n1.pem"]


@pytest.mark.parametrize("node_id", ["", "Node1", "-n", ".n", "n/../x", "n 1", "a" * 64, "ca", "server", "é"])
def test_issue_node_refuses_invalid_ids(tmp_path: Path, node_id: str) -> None:
    init_ca(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(CAError, match="Invalid node id"):
        issue_node(tmp_path, node_id)

    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_issue_node_accepts_the_longest_valid_id(tmp_path: Path) -> None:
    init_ca(tmp_path)
    cert_path, _ = issue_node(tmp_path, "a" * 63)
    assert node_id_of(_cert(cert_path)) == "a" * 63


def test_issuing_without_a_ca_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CAError, match="No CA"):
        issue_node(tmp_path, "n1")
    with pytest.raises(CAError, match="No CA"):
        issue_server(tmp_path, "localhost")


def test_issue_server_names_hosts_and_ip_addresses(tmp_path: Path) -> None:
    init_ca(tmp_path)
    cert_path, key_path = issue_server(tmp_path, "cp.example.com", "127.0.0.1", "::1", "localhost")

    assert (cert_path.name, key_path.name) == ("server.pem", "server.key")
    assert _mode(key_path) == 0o600
    cert = _cert(cert_path)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cp.example.com", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert node_id_of(cert) is None
    store = Store([_cert(tmp_path / "ca.pem")])
    for subject in (x509.DNSName("cp.example.com"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
        PolicyBuilder().store(store).build_server_verifier(subject).verify(cert, [])


def test_issue_server_with_only_a_hostname_names_only_it(tmp_path: Path) -> None:
    init_ca(tmp_path)
    cert = _cert(issue_server(tmp_path, "cp.internal")[0])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.DNSName("cp.internal")]


@pytest.mark.parametrize("hostname", ["", "bad host", "-x.example", "x..example", "exämple.com"])
def test_issue_server_refuses_invalid_hostnames(tmp_path: Path, hostname: str) -> None:
    init_ca(tmp_path)
    with pytest.raises(CAError, match="Invalid host name"):
        issue_server(tmp_path, hostname)
    assert not (tmp_path / "server.pem").exists()


def test_node_id_of_is_none_without_a_node_uri(tmp_path: Path) -> None:
    init_ca(tmp_path)
    assert node_id_of(_cert(tmp_path / "ca.pem")) is None
