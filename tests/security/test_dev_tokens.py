from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from edgehost.security.dev_tokens import AuthError, TokenValidator, load_or_create_signing_key, mint_token
from tests.security import forge


def _new_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "edgefn",
        "aud": "edgefn",
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return claims


HEADER = {"alg": "ES256", "typ": "JWT"}


@pytest.fixture
def key_pem() -> bytes:
    return _new_key()


@pytest.fixture
def validator(key_pem: bytes) -> TokenValidator:
    return TokenValidator(keys=[forge.public_pem(key_pem)])


def _refused(validator: TokenValidator, token: str, reason: str) -> None:
    with pytest.raises(AuthError) as info:
        validator.validate(token)
    assert reason in info.value.message


def test_signing_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "signing.key"
    created = load_or_create_signing_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(created, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert load_or_create_signing_key(path) == created


def test_minted_token_is_valid(validator: TokenValidator, key_pem: bytes) -> None:
    assert validator.validate(mint_token(key_pem=key_pem, subject="alice")) == "alice"


def test_validator_accepts_the_private_signing_key_file(key_pem: bytes) -> None:
    """The CP configured with `auth.signing_key_file` verifies with that key's public half."""
    validator = TokenValidator(keys=[key_pem])
    assert validator.validate(mint_token(key_pem=key_pem, subject="bob", kid="k1")) == "bob"


def test_forged_token_with_correct_signature_is_accepted(validator: TokenValidator, key_pem: bytes) -> None:
    """Forged tokens are otherwise acceptable, so the refusals below are for their one flaw."""
    assert validator.validate(forge.es256(HEADER, _claims(), key_pem)) == "alice"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "e30.e30.", "..."])
def test_missing_or_malformed_token_is_refused(validator: TokenValidator, token: str) -> None:
    with pytest.raises(AuthError):
        validator.validate(token)


def test_expired_token_is_refused(validator: TokenValidator, key_pem: bytes) -> None:
    _refused(validator, mint_token(key_pem=key_pem, subject="alice", ttl_s=-120), "expired")


def test_expiry_within_leeway_is_accepted(validator: TokenValidator, key_pem: bytes) -> None:
    now = int(time.time())
    assert validator.validate(forge.es256(HEADER, _claims(exp=now - 5), key_pem)) == "alice"


def test_token_not_yet_valid_is_refused(validator: TokenValidator, key_pem: bytes) -> None:
    now = int(time.time())
    _refused(validator, forge.es256(HEADER, _claims(nbf=now + 600), key_pem), "not yet valid")


def test_token_without_expiry_is_refused(validator: TokenValidator, key_pem: bytes) -> None:
    claims = _claims()
    del claims["exp"]
    _refused(validator, forge.es256(HEADER, claims, key_pem), "exp")


def test_wrong_issuer_is_refused(validator: TokenValidator, key_pem: bytes) -> None:
    _refused(validator, mint_token(key_pem=key_pem, subject="alice", issuer="evil"), "iss")


def test_wrong_audience_is_refused(validator: TokenValidator, key_pem: bytes) -> None:
    _refused(validator, mint_token(key_pem=key_pem, subject="alice", audience="other"), "aud")


def test_issuer_and_audience_checks_can_be_disabled(key_pem: bytes) -> None:
    validator = TokenValidator(keys=[key_pem], issuer=None, audience=None)
    token = forge.es256(HEADER, _claims(iss="idp", aud="anything"), key_pem)
    assert validator.validate(token) == "alice"


@pytest.mark.parametrize("sub", [None, "", 42])
def test_missing_subject_is_refused(validator: TokenValidator, key_pem: bytes, sub: object) -> None:
    claims = _claims(sub=sub)
    if sub is None:
        del claims["sub"]
    _refused(validator, forge.es256(HEADER, claims, key_pem), "sub")


def test_unregistered_header_is_ignored_but_unknown_crit_is_refused(
    validator: TokenValidator, key_pem: bytes
) -> None:
    assert validator.validate(forge.es256({**HEADER, "x-trace": "1"}, _claims(), key_pem)) == "alice"
    token = forge.es256({**HEADER, "x-trace": "1", "crit": ["x-trace"]}, _claims(), key_pem)
    with pytest.raises(AuthError):
        validator.validate(token)


def test_alg_none_is_refused(validator: TokenValidator) -> None:
    _refused(validator, forge.unsigned({"alg": "none", "typ": "JWT"}, _claims()), "algorithm")


def test_none_cannot_be_configured(key_pem: bytes) -> None:
    with pytest.raises(ValueError, match="none"):
        TokenValidator(keys=[key_pem], algorithms=("ES256", "none"))


def test_hs256_with_the_public_key_as_secret_is_refused(validator: TokenValidator, key_pem: bytes) -> None:
    token = forge.hs256({"alg": "HS256", "typ": "JWT"}, _claims(), forge.public_pem(key_pem))
    _refused(validator, token, "algorithm")


def test_hs256_confusion_is_refused_even_when_hs256_is_allowed(key_pem: bytes) -> None:
    """Keys are imported by their type, so an EC public key never serves as an HMAC secret."""
    validator = TokenValidator(keys=[forge.public_pem(key_pem)], algorithms=("ES256", "HS256"))
    token = forge.hs256({"alg": "HS256", "typ": "JWT"}, _claims(), forge.public_pem(key_pem))
    _refused(validator, token, "signature")


def test_signature_by_another_key_is_refused(validator: TokenValidator) -> None:
    _refused(validator, mint_token(key_pem=_new_key(), subject="alice"), "signature")


def test_tampered_claims_are_refused(validator: TokenValidator, key_pem: bytes) -> None:
    header, _, signature = mint_token(key_pem=key_pem, subject="alice").split(".")
    payload = forge.b64url(json.dumps(_claims(sub="root")).encode())
    _refused(validator, f"{header}.{payload}.{signature}", "signature")


class JWKSServer:
    """A real HTTP server publishing a JWKS document that tests can rotate."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.status = 200
        self.extra: list[dict[str, str]] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                jwks = {
                    "keys": [
                        ECKey.import_key(forge.public_pem(pem)).as_dict(kid=kid, use="sig", alg="ES256")
                        for kid, pem in outer.keys.items()
                    ]
                    + outer.extra
                }
                body = json.dumps(jwks).encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    server = JWKSServer()
    server.keys = {"a": _new_key(), "b": _new_key()}
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwks_validator(jwks: JWKSServer, clock: FakeClock) -> Iterator[TokenValidator]:
    validator = TokenValidator(jwks_url=jwks.url, clock=clock)
    yield validator
    validator.close()


def test_jwks_keys_are_selected_by_kid_and_cached(jwks: JWKSServer, jwks_validator: TokenValidator) -> None:
    for kid in ("a", "b"):
        assert jwks_validator.validate(mint_token(key_pem=jwks.keys[kid], subject=kid, kid=kid)) == kid
    assert jwks.fetches == 1


def test_symmetric_jwks_keys_are_ignored(jwks: JWKSServer) -> None:
    jwks.extra = [{"kty": "oct", "kid": "s", "k": forge.b64url(b"shared-secret-shared-secret-32by")}]
    validator = TokenValidator(jwks_url=jwks.url, algorithms=("ES256", "HS256"))
    try:
        token = forge.hs256({"alg": "HS256", "kid": "s"}, _claims(), b"shared-secret-shared-secret-32by")
        _refused(validator, token, "unknown signing key")
        assert jwks.fetches == 1
    finally:
        validator.close()


def test_jwks_key_under_another_kid_is_refused(jwks: JWKSServer, jwks_validator: TokenValidator) -> None:
    _refused(jwks_validator, mint_token(key_pem=jwks.keys["a"], subject="x", kid="b"), "signature")


def test_jwks_token_without_kid_is_checked_against_all_keys(
    jwks: JWKSServer, jwks_validator: TokenValidator
) -> None:
    assert jwks_validator.validate(mint_token(key_pem=jwks.keys["b"], subject="carol")) == "carol"
    _refused(jwks_validator, mint_token(key_pem=_new_key(), subject="carol"), "signature")


def test_unknown_kid_refetches_at_most_once_per_interval(
    jwks: JWKSServer, jwks_validator: TokenValidator, clock: FakeClock
) -> None:
    old_key = jwks.keys["a"]
    assert jwks_validator.validate(mint_token(key_pem=old_key, subject="a", kid="a")) == "a"
    jwks.keys = {"c": _new_key()}  # rotation: the IdP now signs with "c"
    token_c = mint_token(key_pem=jwks.keys["c"], subject="c", kid="c")

    clock.now += 10
    _refused(jwks_validator, token_c, "unknown signing key")
    assert jwks.fetches == 1

    clock.now += 21
    assert jwks_validator.validate(token_c) == "c"
    assert jwks.fetches == 2

    clock.now += 1
    _refused(jwks_validator, mint_token(key_pem=_new_key(), subject="x", kid="forged"), "unknown signing key")
    assert jwks.fetches == 2
    # Key "a" left the JWKS with the refetch, so its tokens are no longer accepted.
    _refused(jwks_validator, mint_token(key_pem=old_key, subject="a", kid="a"), "unknown signing key")


def test_jwks_is_refreshed_when_old(
    jwks: JWKSServer, jwks_validator: TokenValidator, clock: FakeClock
) -> None:
    old_key = jwks.keys["a"]
    assert jwks_validator.validate(mint_token(key_pem=old_key, subject="a", kid="a")) == "a"
    jwks.keys = {"b": jwks.keys["b"]}

    clock.now += 3600
    _refused(jwks_validator, mint_token(key_pem=old_key, subject="a", kid="a"), "unknown signing key")
    assert jwks.fetches == 2


def test_failing_jwks_is_retried_at_most_once_per_interval(
    jwks: JWKSServer, jwks_validator: TokenValidator, clock: FakeClock
) -> None:
    jwks.status = 503
    token = mint_token(key_pem=jwks.keys["a"], subject="a", kid="a")
    _refused(jwks_validator, token, "unknown signing key")
    _refused(jwks_validator, token, "unknown signing key")
    assert jwks.fetches == 1

    jwks.status = 200
    clock.now += 30
    assert jwks_validator.validate(token) == "a"
    assert jwks.fetches == 2


def test_failed_refresh_keeps_the_cached_keys(
    jwks: JWKSServer, jwks_validator: TokenValidator, clock: FakeClock
) -> None:
    token = mint_token(key_pem=jwks.keys["a"], subject="a", kid="a")
    assert jwks_validator.validate(token) == "a"
    jwks.status = 503

    clock.now += 3600
    assert jwks_validator.validate(mint_token(key_pem=jwks.keys["a"], subject="a", kid="a")) == "a"
    assert jwks.fetches == 2


async def test_avalidate_fetches_jwks_off_the_event_loop(jwks: JWKSServer, clock: FakeClock) -> None:
    fetch_threads: list[int] = []
    http = httpx.Client(event_hooks={"request": [lambda _: fetch_threads.append(threading.get_ident())]})
    validator = TokenValidator(jwks_url=jwks.url, http=http, clock=clock)
    try:
        token = mint_token(key_pem=jwks.keys["a"], subject="dana", kid="a")
        assert await validator.avalidate(token) == "dana"
        assert (
            await validator.avalidate(mint_token(key_pem=jwks.keys["b"], subject="erin", kid="b")) == "erin"
        )
    finally:
        http.close()
    assert len(fetch_threads) == 1
    assert fetch_threads[0] != threading.get_ident()
