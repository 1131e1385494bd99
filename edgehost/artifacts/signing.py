"""HMAC-signed, expiring URLs for the local artifact store, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from edgehost.files import read_or_create


def load_or_create_secret(path: Path) -> bytes:
    """The CP's URL-signing secret; made on first use, readable by the CP's user alone."""
    return read_or_create(path, lambda: secrets.token_bytes(32))


class UrlSigner:
    def __init__(self, secret: bytes, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _mac(self, method: str, key: str, expires: int) -> str:
        msg = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def sign(self, method: str, key: str, *, ttl_s: int) -> str:
        expires = int(time.time()) + ttl_s
        sig = self._mac(method, key, expires)
        return f"{self.base_url}/v1/artifacts/{quote(key)}?expires={expires}&signature={sig}"

    def verify(self, method: str, key: str, expires: int, signature: str) -> bool:
        if expires < time.time():
            return False
        return hmac.compare_digest(self._mac(method, key, expires), signature)
