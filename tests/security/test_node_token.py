from __future__ import annotations

import base64
import datetime as dt
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from edgehost.security import node_token
from edgehost.security.ca import init_ca, issue_node, issue_server
from edgehost.security.node_token import NodeAuthError, NodeTokenVerifier, sign_node_token
from tests.security import forge

NODE = "node-1"
ALLOW = frozenset({NODE, "node-2"})


class Node:
    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.cert_pem, self.key_pem = cert_pem, key_pem

    def token(self, node_id: str = NODE, *, audience: str = "edgefn-cp", ttl_s: int = 60) -> str:
        return sign_node_token(
            node_id=node_id, cert_pem=self.cert_pem, key_pem=self.key_pem, audience=audience, ttl_s=ttl_s
        )

    def header(self) -> dict[str, object]:
        return {"alg": "ES256", "typ": "JWT", "x5c": [forge.der_b64(self.cert_pem)]}


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": NODE, "aud": "edgefn-cp", "iat": now, "exp": now + 60, "jti": "j1"}
    claims.update(overrides)
    return claims


def _read(paths: tuple[Path, Path]) -> Node:
    return Node(paths[0].read_bytes(), paths[1].read_bytes())


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    init_ca(tmp_path / "ca")
    return tmp_path / "ca"


@pytest.fixture
def node(ca_dir: Path) -> Node:
    return _read(issue_node(ca_dir, NODE))


@pytest.fixture
def verifier(ca_dir: Path) -> NodeTokenVerifier:
    return NodeTokenVerifier((ca_dir / "ca.pem").read_bytes())


def _refused(verifier: NodeTokenVerifier, token: str, status: int, reason: str) -> None:
    with pytest.raises(NodeAuthError) as info:
        verifier.verify(token, ALLOW)
    assert info.value.status == status
    assert reason in info.value.message


def test_valid_token_names_the_node(verifier: NodeTokenVerifier, node: Node) -> None:
    token = node.token()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "ES256"
    assert header["x5c"] == [forge.der_b64(node.cert_pem)]
    assert verifier.verify(token, ALLOW) == NODE


def test_tokens_carry_distinct_ids(verifier: NodeTokenVerifier, node: Node) -> None:
    assert verifier.verify(node.token(), ALLOW) == NODE
    assert verifier.verify(node.token(), ALLOW) == NODE


def test_replayed_token_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    token = node.token()
    assert verifier.verify(token, ALLOW) == NODE
    _refused(verifier, token, 401, "replayed")


def test_signing_with_a_key_that_is_not_the_certificates_is_refused(ca_dir: Path, node: Node) -> None:
    other = _read(issue_node(ca_dir, "node-2"))
    with pytest.raises(ValueError, match="not the EC private key"):
        sign_node_token(node_id=NODE, cert_pem=node.cert_pem, key_pem=other.key_pem)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "..", "e30.e30.", "!!.??.##"])
def test_malformed_tokens_are_refused(verifier: NodeTokenVerifier, token: str) -> None:
    with pytest.raises(NodeAuthError) as info:
        verifier.verify(token, ALLOW)
    assert info.value.status == 401


def test_certificate_from_another_ca_is_refused(tmp_path: Path, verifier: NodeTokenVerifier) -> None:
    init_ca(tmp_path / "other")
    impostor = _read(issue_node(tmp_path / "other", NODE))
    _refused(verifier, impostor.token(), 401, "not trusted")


def test_expired_certificate_is_refused(ca_dir: Path, verifier: NodeTokenVerifier) -> None:
    now = dt.datetime.now(dt.UTC)
    old = Node(
        *forge.leaf(
            ca_dir, NODE, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        )
    )
    _refused(verifier, old.token(), 401, "not trusted")


def test_not_yet_valid_certificate_is_refused(ca_dir: Path, verifier: NodeTokenVerifier) -> None:
    now = dt.datetime.now(dt.UTC)
    early = Node(
        *forge.leaf(
            ca_dir, NODE, not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)
        )
    )
    _refused(verifier, early.token(), 401, "not trusted")


def test_certificate_without_client_auth_is_refused(ca_dir: Path, verifier: NodeTokenVerifier) -> None:
    now = dt.datetime.now(dt.UTC)
    server_only = Node(
        *forge.leaf(
            ca_dir,
            NODE,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=1),
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
        )
    )
    _refused(verifier, server_only.token(), 401, "not trusted")


def test_the_cp_server_certificate_cannot_sign_node_tokens(ca_dir: Path, verifier: NodeTokenVerifier) -> None:
    server = _read(issue_server(ca_dir, "localhost"))
    _refused(verifier, server.token(), 401, "not trusted")


def test_certificate_key_not_p256_is_refused(ca_dir: Path, verifier: NodeTokenVerifier) -> None:
    now = dt.datetime.now(dt.UTC)
    cert_pem, _ = forge.leaf(
        ca_dir,
        NODE,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=1),
        curve=ec.SECP384R1(),
    )
    p384 = Node(cert_pem, b"")
    _, p256_key = forge.leaf(
        ca_dir, NODE, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1)
    )
    _refused(verifier, forge.es256(p384.header(), _claims(), p256_key), 401, "P-256")


def test_alg_none_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    header = {**node.header(), "alg": "none"}
    _refused(verifier, forge.unsigned(header, _claims()), 401, "algorithm")


def test_hs256_with_the_public_key_as_secret_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    header = {**node.header(), "alg": "HS256"}
    for secret in (node.cert_pem, forge.public_pem(node.cert_pem)):
        _refused(verifier, forge.hs256(header, _claims(), secret), 401, "algorithm")


def test_signature_by_another_key_is_refused(ca_dir: Path, verifier: NodeTokenVerifier, node: Node) -> None:
    other = _read(issue_node(ca_dir, "node-2"))
    _refused(verifier, forge.es256(node.header(), _claims(), other.key_pem), 401, "signature")


def test_tampered_claims_are_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    header_b64, _, signature = node.token().split(".")
    payload = forge.b64url(json.dumps(_claims(sub="node-2")).encode())
    _refused(verifier, f"{header_b64}.{payload}.{signature}", 401, "signature")


def test_forged_token_with_correct_signature_is_accepted(verifier: NodeTokenVerifier, node: Node) -> None:
    """The forge helpers produce tokens the verifier accepts, so the refusals above are for their one flaw."""
    assert verifier.verify(forge.es256(node.header(), _claims(), node.key_pem), ALLOW) == NODE


def test_wrong_audience_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    _refused(verifier, node.token(audience="edgefn-api"), 401, "aud")


def test_expired_token_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    now = int(time.time())
    token = forge.es256(node.header(), _claims(iat=now - 600, exp=now - 300), node.key_pem)
    _refused(verifier, token, 401, "expired")


@pytest.mark.parametrize("missing", ["sub", "aud", "iat", "exp", "jti"])
def test_token_missing_a_claim_is_refused(verifier: NodeTokenVerifier, node: Node, missing: str) -> None:
    claims = _claims()
    del claims[missing]
    _refused(verifier, forge.es256(node.header(), claims, node.key_pem), 401, missing)


def test_token_living_longer_than_allowed_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    _refused(verifier, node.token(ttl_s=3600), 401, "lifetime")


@pytest.mark.parametrize("x5c", [None, [], "not-a-list", ["!!!"], ["AAAA"]])
def test_bad_x5c_is_refused(verifier: NodeTokenVerifier, node: Node, x5c: object) -> None:
    header = {**node.header(), "x5c": x5c}
    if x5c is None:
        del header["x5c"]
    with pytest.raises(NodeAuthError) as info:
        verifier.verify(forge.es256(header, _claims(), node.key_pem), ALLOW)
    assert info.value.status == 401


def test_certificate_chain_with_extra_certificates_is_refused(
    ca_dir: Path, verifier: NodeTokenVerifier, node: Node
) -> None:
    header = {
        **node.header(),
        "x5c": [forge.der_b64(node.cert_pem), forge.der_b64((ca_dir / "ca.pem").read_bytes())],
    }
    _refused(verifier, forge.es256(header, _claims(), node.key_pem), 401, "exactly one")


def test_node_not_in_allow_list_is_forbidden(ca_dir: Path, verifier: NodeTokenVerifier) -> None:
    stranger = _read(issue_node(ca_dir, "node-3"))
    _refused(verifier, stranger.token(node_id="node-3"), 403, "not allowed")


def test_subject_other_than_the_certificates_node_is_forbidden(
    verifier: NodeTokenVerifier, node: Node
) -> None:
    _refused(verifier, node.token(node_id="node-2"), 403, "subject")


def test_a_certificate_is_chain_checked_once(
    verifier: NodeTokenVerifier, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[object] = []
    real = node_token.PolicyBuilder

    def counted() -> object:
        builds.append(1)
        return real()

    monkeypatch.setattr(node_token, "PolicyBuilder", counted)
    for _ in range(3):
        assert verifier.verify(node.token(), ALLOW) == NODE
    assert len(builds) == 1


def test_a_trusted_certificate_still_needs_a_valid_signature_fresh_claims_and_the_allow_list(
    ca_dir: Path, verifier: NodeTokenVerifier, node: Node
) -> None:
    token = node.token()
    assert verifier.verify(token, ALLOW) == NODE  # the certificate is now remembered
    other = _read(issue_node(ca_dir, "node-2"))
    _refused(verifier, forge.es256(node.header(), _claims(jti="j2"), other.key_pem), 401, "signature")
    now = int(time.time())
    expired = forge.es256(node.header(), _claims(iat=now - 600, exp=now - 300, jti="j3"), node.key_pem)
    _refused(verifier, expired, 401, "expired")
    _refused(verifier, token, 401, "replayed")
    with pytest.raises(NodeAuthError) as info:
        verifier.verify(node.token(), frozenset({"node-2"}))
    assert info.value.status == 403 and "not allowed" in info.value.message


def test_a_remembered_certificate_is_checked_again_once_it_expires(ca_dir: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    short = Node(
        *forge.leaf(
            ca_dir, NODE, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(hours=1)
        )
    )
    clock = [time.time()]
    verifier = NodeTokenVerifier((ca_dir / "ca.pem").read_bytes(), clock=lambda: clock[0])
    assert verifier.verify(short.token(), ALLOW) == NODE
    clock[0] += 2 * 3600
    _refused(verifier, short.token(), 401, "not trusted")


class FromNow(int):
    """Seconds from the time the test runs (not when it is collected: a long suite outlives 600 s)."""


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iat": FromNow(600), "exp": FromNow(660)}, "iat"),
        ({"nbf": FromNow(600)}, "nbf"),
        ({"nbf": None}, "nbf"),
        ({"exp": "soon"}, "exp"),
        ({"exp": float("nan")}, "claims"),  # not even JSON
        ({"exp": True}, "exp"),
        ({"sub": ""}, "sub"),
        ({"sub": 7}, "sub"),
        ({"jti": ["j"]}, "jti"),
        ({"iss": 5}, "iss"),
        ({"aud": ["edgefn-api"]}, "aud"),
        ({"aud": ["edgefn-cp", 5]}, "aud"),
        ({"aud": {"edgefn-cp": True}}, "aud"),
    ],
)
def test_claims_joserfcs_registry_refused_are_refused(
    verifier: NodeTokenVerifier, node: Node, overrides: dict[str, object], reason: str
) -> None:
    now = int(time.time())
    claims = {key: now + value if isinstance(value, FromNow) else value for key, value in overrides.items()}
    token = forge.es256(node.header(), _claims(**claims), node.key_pem)
    _refused(verifier, token, 401, reason)


def test_an_audience_list_naming_the_cp_and_a_past_nbf_are_accepted(
    verifier: NodeTokenVerifier, node: Node
) -> None:
    claims = _claims(aud=["other", "edgefn-cp"], nbf=int(time.time()) - 5, iss="node")
    assert verifier.verify(forge.es256(node.header(), claims, node.key_pem), ALLOW) == NODE


def test_an_unencoded_payload_is_refused(verifier: NodeTokenVerifier, node: Node) -> None:
    """RFC 7797 (`b64: false`): joserfc accepted it, but no node signs one."""
    header = {**node.header(), "b64": False, "crit": ["b64"]}
    _refused(verifier, forge.es256(header, _claims(), node.key_pem), 401, "base64url")


def test_a_header_is_remembered_only_once_a_trusted_certificate_signed_it(
    ca_dir: Path, verifier: NodeTokenVerifier, node: Node
) -> None:
    other = _read(issue_node(ca_dir, "node-2"))
    for n in range(3):  # a stranger's signatures over headers naming a trusted certificate
        header = {**node.header(), "kid": f"k{n}"}
        _refused(verifier, forge.es256(header, _claims(jti=f"s{n}"), other.key_pem), 401, "signature")
    assert not verifier._headers
    assert verifier.verify(node.token(), ALLOW) == NODE
    assert len(verifier._headers) == 1
    _refused(verifier, forge.es256(node.header(), _claims(), other.key_pem), 401, "signature")
