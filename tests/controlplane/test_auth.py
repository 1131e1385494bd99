"""Developer authentication and tenancy against a real CP: tokens, memberships, roles, host claims."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgehost.security.dev_tokens import mint_token
from tests.controlplane.harness import ControlPlane, bearer


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _foreign_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _bad_tokens(cp: ControlPlane) -> dict[str, str]:
    good = cp.token("alice")
    header, claims, _ = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=="))
    return {
        "expired": mint_token(key_pem=cp.config.signing_key.read_bytes(), subject="alice", ttl_s=-120),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}.",
        "bad signature": mint_token(key_pem=_foreign_key(), subject="alice"),
        "garbage": "not-a-jwt",
        "tampered": f"{header}.{_b64({**payload, 'sub': 'mallory'})}.{good.split('.')[2]}",
    }


@pytest.mark.parametrize("case", ["missing", "expired", "alg none", "bad signature", "garbage", "tampered"])
def test_bad_tokens_get_401_json(cp: ControlPlane, case: str) -> None:
    headers = {} if case == "missing" else bearer(_bad_tokens(cp)[case])
    response = httpx.get(f"{cp.api}/v1/projects", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthorized" and body["detail"]
    assert "Traceback" not in response.text


def test_first_subject_owns_members_and_roles(cp: ControlPlane) -> None:
    alice, bob, carol = cp.developer("alice-t"), cp.developer("bob-t"), cp.developer("carol-t")
    assert alice.create("tenancy", "hello").status_code == 201
    assert alice.http.get("/v1/projects").json() == {"projects": ["tenancy"]}

    denied = bob.create("tenancy", "hello")
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    assert bob.http.get("/v1/projects/tenancy/functions").status_code == 403
    # Only an owner adds members.
    assert bob.http.post("/v1/projects/tenancy/members", json={"subject": "bob-t"}).status_code == 403

    added = alice.http.post("/v1/projects/tenancy/members", json={"subject": "bob-t", "role": "developer"})
    assert added.status_code == 200
    assert bob.create("tenancy", "hello").status_code == 201

    alice.http.post("/v1/projects/tenancy/members", json={"subject": "carol-t", "role": "viewer"})
    assert carol.http.get("/v1/projects/tenancy/functions").status_code == 200
    for write in (
        carol.create("tenancy", "other"),
        carol.deploy("tenancy", "hello", "true"),
        carol.http.put("/v1/projects/tenancy/routes", json={"routes": []}),
    ):
        assert write.status_code == 403, write.text
    # A developer cannot promote themselves.
    assert (
        bob.http.post("/v1/projects/tenancy/members", json={"subject": "bob-t", "role": "owner"}).status_code
        == 403
    )


def test_unknown_role_is_rejected(cp: ControlPlane) -> None:
    owner = cp.developer("role-owner")
    owner.create("roles", "f")
    response = owner.http.post("/v1/projects/roles/members", json={"subject": "x", "role": "admin"})
    assert response.status_code == 400
    assert "role" in json.dumps(response.json()["detail"])


def test_a_host_belongs_to_one_project(cp: ControlPlane) -> None:
    one, two = cp.developer("host-one"), cp.developer("host-two")
    one.create("hosts-one", "f")
    two.create("hosts-two", "f")
    route = {"host": "shop.example.com", "path": "/", "function": "f"}
    assert one.http.put("/v1/projects/hosts-one/routes", json={"routes": [route]}).status_code == 200
    clash = two.http.put("/v1/projects/hosts-two/routes", json={"routes": [route]})
    assert clash.status_code == 409
    assert "shop.example.com" in clash.json()["detail"] and "hosts-one" not in clash.json()["detail"]
    assert two.http.get("/v1/projects/hosts-two/routes").json() == {"routes": []}
    # A member of both projects is told which one holds the host.
    one.http.post("/v1/projects/hosts-one/members", json={"subject": "host-two", "role": "viewer"})
    clash = two.http.put("/v1/projects/hosts-two/routes", json={"routes": [route]})
    assert clash.status_code == 409 and 'project "hosts-one"' in clash.json()["detail"]
    # Wildcard hosts belong to no project.
    shared = {"host": "*", "path": "/x", "function": "f"}
    assert two.http.put("/v1/projects/hosts-two/routes", json={"routes": [shared]}).status_code == 200
