"""The addresses a runner advertises (`runner.public_url`, `runner.metrics_url`) and the `host:port`
form load balancers and Prometheus want of them.

A runner bound to a wildcard address (`0.0.0.0`, `::`) cannot advertise that: nobody can connect to
it. Its default URL names instead the local address its traffic to the control plane leaves from,
the one interface the CP (and usually the load balancer beside it) is known to reach.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from urllib.parse import urlsplit

log = logging.getLogger("edgefn.addresses")

MAX_URL = 2048  # the CP's column width
WILDCARDS = ("", "0.0.0.0", "::", "[::]")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Dot-separated labels of letters, digits, '-' and '_' (RFC 1123 host names, which IPv4 addresses
# also are, and the underscores some internal names carry).
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?")


class AddressError(ValueError):
    """A URL that cannot be advertised; the message says why."""


def host_port(url: str) -> str:
    """`host:port` of an http(s) URL, the port defaulting by scheme, an IPv6 host in brackets
    (RFC 3986 section 3.2.2), as HAProxy, nginx and Prometheus targets spell it.

    Raises AddressError for anything but an absolute http(s) URL with a host and a valid port.
    """
    if len(url) > MAX_URL:
        raise AddressError(f"longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressError(str(exc)) from None
    if parts.scheme not in DEFAULT_PORTS:
        raise AddressError("not an http:// or https:// URL")
    host = parts.hostname
    if not host:
        raise AddressError("has no host")
    if parts.username is not None:
        raise AddressError("holds credentials")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise AddressError("holds spaces or control characters")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError(f"{host!r} is not an IPv6 address") from None
        host = f"[{host}]"
    elif not _HOST_NAME.fullmatch(host):
        raise AddressError(f"{host!r} is neither a host name nor an IPv4 address")
    return f"{host}:{port or DEFAULT_PORTS[parts.scheme]}"


def check_url(url: str) -> str:
    """`url` if it can be advertised, else AddressError."""
    host_port(url)
    return url


def advertised(url: str, bind_host: str, port: int, control_plane_url: str) -> str:
    """`url` when set; else `http://{bind_host}:{port}`, a wildcard host replaced by the address
    this machine reaches the control plane from (its host name if that cannot be found)."""
    if url:
        return url
    host = bind_host
    if host in WILDCARDS:
        host = local_address_towards(control_plane_url) or socket.gethostname()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def local_address_towards(url: str) -> str | None:
    """The source address the kernel picks for traffic to `url`'s host: a UDP `connect` sends no
    packet, it only routes. None (logged) when the host does not resolve or is unreachable."""
    try:
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        family, kind, proto, _, target = socket.getaddrinfo(
            parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 443), type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(target)
            return str(probe.getsockname()[0])
    except (OSError, ValueError) as exc:
        log.warning("cannot find the address towards %s (%s); advertising the host name", url, exc)
        return None
