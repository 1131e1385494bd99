"""Sealing secret values with an AEAD (docs/secrets.md): the control plane's store and a runner's state file.

ChaCha20-Poly1305 (RFC 8439) from `cryptography`, a fresh random 96-bit nonce per value, and the
secret's place (project, function and name; on a runner, function id and name) as associated data,
so a sealed value copied to another secret's row fails to open instead of passing as that secret.
A sealed value is text: `v1.` then base64 of nonce and ciphertext with its tag.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from edgehost.files import read_or_create

KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "v1."


class SecretKeyError(ValueError):
    """A key that is not base64 of 32 bytes, or a key file that cannot be read or written."""


class SealError(ValueError):
    """A sealed value that does not open with this key and place: another key, or tampered text."""


def new_key() -> str:
    """A random key as its base64 text (what `secrets.key` and key files hold)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_key(text: str) -> bytes:
    """The 32 key bytes of base64 `text` (surrounding space ignored); SecretKeyError otherwise."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(
            "must be base64 text of 32 random bytes (e.g. `openssl rand -base64 32`)"
        ) from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"must be base64 of 32 bytes, got {len(key)} bytes")
    return key


def load_or_create_key(path: Path) -> bytes:
    """The key in `path`, created (mode 0600, never readable by others) with a new key when missing;
    processes starting together all get the one that was written first (`read_or_create`)."""
    try:
        text = read_or_create(path, lambda: (new_key() + "\n").encode()).decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read or create {path}: {exc}") from None
    return parse_key(text)


class Sealer:
    """Seals and opens values under one key; `place` is the associated data (who the value belongs to)."""

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)

    def seal(self, value: str, place: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), place.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, place: str) -> str:
        """The value; SealError when `sealed` was not sealed by this key for this place."""
        if not sealed.startswith(PREFIX):
            raise SealError("not a sealed value")
        try:
            raw = base64.b64decode(sealed[len(PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], place.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise SealError("does not open with this key") from None
