"""Mutual-TLS settings for the CP's node listener (granian) and the runner's clients (httpx)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

from edgehost.settings import Settings

StrPath = str | os.PathLike[str]


def server_ssl_args(ca_file: StrPath, cert_file: StrPath, key_file: StrPath) -> dict[str, Any]:
    """granian `Server` keyword arguments that demand a client certificate signed by `ca_file`."""
    return {
        "ssl_cert": Path(cert_file),
        "ssl_key": Path(key_file),
        "ssl_ca": Path(ca_file),
        "ssl_client_verify": True,
    }


def client_ssl_context(ca_file: StrPath, cert_file: StrPath, key_file: StrPath) -> ssl.SSLContext:
    """A client context presenting the node certificate and trusting only the edgefn CA, not system roots."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.fspath(ca_file))
    context.load_cert_chain(os.fspath(cert_file), os.fspath(key_file))
    return context


def node_client_context(settings: Settings, url: str) -> ssl.SSLContext | None:
    """The runner's context for `url` on the CP: mutual TLS (`client_ssl_context` from `tls.*`) when
    the URL is https and `tls.*` is set, else None (plain http, or an https URL checked against the
    system roots, like a presigned S3 URL). Raises OSError or ssl.SSLError for unreadable files."""
    if not url.startswith("https://") or not settings.tls_enabled:
        return None
    tls = settings.tls
    return client_ssl_context(tls.ca_file, tls.cert_file, tls.key_file)
