"""Route syntax and route ownership: the one rule the project file, the CP API and the router share.

A route is a host pattern, a path pattern and a method set (the `[[routes]]` table):

- Host: `*` (any host no project claims), `*.example.com` (any depth of subdomain, never the apex)
  or a host name. A host name is RFC 1123 labels of a-z, 0-9 and '-', at most 253 characters;
  compared lower-case; at least two labels, the last not all digits, so no project can claim an
  IP address or `localhost`. A wildcard needs two labels after `*.`, so no project can claim a
  whole top-level domain (`*.com`). Nor a public suffix (`co.uk`, `github.io`) nor a wildcard
  right under one (`*.co.uk`): the Public Suffix List names the domains under which unrelated
  parties register theirs, so such a claim would take other tenants' sites.
- Path: `/`-separated segments. A literal segment is RFC 3986 `pchar`s or non-ASCII text
  (percent-escapes allowed, compared after decoding, so `/caf%C3%A9` is the path `/café`);
  `{name}` (a-z, 0-9, '_', not starting with a digit, at most 64 characters) captures one
  non-empty segment; a final `/*` matches the rest of the path, including nothing. A trailing `/`
  is a segment of its own (empty).
- Methods: RFC 9110 method names from METHODS, upper-case (method names are case-sensitive, §9.1).

Ownership across projects (enforced by the CP, see docs/routing.md for the table of examples):
an explicit host claim (exact or wildcard) may not overlap another project's claim, and on the
shared host `*` a path pattern may not match any request path that another project's `*` pattern
matches. Overlap inside one project is fine: precedence decides.

Every function here raises `RouteSyntaxError` with a sentence naming what is wrong.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import unquote_to_bytes

from publicsuffixlist import PublicSuffixList

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_PATH_LENGTH = 1024
MAX_HOST_LENGTH = 253  # RFC 1035 §2.3.4, as written in text form

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PARAM = re.compile(r"\{([a-z_][a-z0-9_]{0,63})\}")
# RFC 3986 §3.3 pchar, minus "*" (reserved for the final `/*`) and with "%" only as an escape; and,
# as in an IRI (RFC 3987), non-ASCII characters other than spaces, which match their UTF-8 bytes.
_LITERAL = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()+,;=:@]|%[0-9A-Fa-f]{2}|[^\x00-\x7f\s])+")


class RouteSyntaxError(ValueError):
    """A host, path or method list that is not a route; the message is one sentence for users."""


class HostKind(IntEnum):
    """How specific a host pattern is: larger wins at the runner."""

    ANY = 0
    DOMAIN = 1
    EXACT = 2


@dataclass(frozen=True, slots=True)
class HostPattern:
    """`text` as written (lower-cased); `suffix` is the exact name, or ".example.com" of a wildcard."""

    text: str
    kind: HostKind
    suffix: str

    def matches(self, host: str) -> bool:
        """`host` is normalised (see `normalize_host`)."""
        if self.kind is HostKind.EXACT:
            return host == self.suffix
        if self.kind is HostKind.DOMAIN:
            return host.endswith(self.suffix) and len(host) > len(self.suffix)
        return True

    def overlaps(self, other: HostPattern) -> bool:
        """Some host name both explicit claims cover: equal names, a name inside a wildcard, or nested
        wildcards. `*` claims nothing, so it overlaps no claim."""
        if self.kind is HostKind.ANY or other.kind is HostKind.ANY:
            return False
        if self.kind is HostKind.EXACT and other.kind is HostKind.EXACT:
            return self.suffix == other.suffix
        if self.kind is HostKind.DOMAIN and other.kind is HostKind.DOMAIN:
            return self.suffix.endswith(other.suffix) or other.suffix.endswith(self.suffix)
        exact, domain = (self, other) if self.kind is HostKind.EXACT else (other, self)
        return domain.matches(exact.suffix)


@dataclass(frozen=True, slots=True)
class PathPattern:
    """`segments` holds each literal segment decoded, or None for a `{param}` (named in `names`)."""

    text: str
    segments: tuple[str | None, ...]
    names: tuple[str, ...]
    rest: bool  # ends in `/*`

    def overlaps(self, other: PathPattern) -> bool:
        """Some request path matches both patterns."""
        a, b = self.segments, other.segments
        common = min(len(a), len(b))
        for x, y in zip(a[:common], b[:common], strict=True):
            if x is not None and y is not None and x != y:
                return False
            if (x is None and y == "") or (y is None and x == ""):  # a param needs a non-empty segment
                return False
        if len(a) == len(b):
            return True
        # The longer one's extra segments can only follow the shorter one's `/*`, which matches any.
        return (other if len(a) > len(b) else self).rest


@dataclass(frozen=True, slots=True)
class RoutePattern:
    host: HostPattern
    path: PathPattern
    methods: frozenset[str]  # empty: any method

    def overlaps(self, other: RoutePattern) -> bool:
        """The ownership rule between two projects' routes (module docstring)."""
        if self.host.kind is HostKind.ANY and other.host.kind is HostKind.ANY:
            return self.path.overlaps(other.path)
        return self.host.overlaps(other.host)


def quoted(value: str) -> str:
    """A value quoted as the project file (TOML) and the API (JSON) write it."""
    return json.dumps(value, ensure_ascii=False)


def is_host_name(host: str) -> bool:
    """A lower-case RFC 1123 host name (also an IPv4 address in dotted form)."""
    return len(host) <= MAX_HOST_LENGTH and _HOST_NAME.fullmatch(host) is not None


def parse_host(text: str) -> HostPattern:
    host = text.strip().lower()
    if host == "*":
        return HostPattern("*", HostKind.ANY, "")
    if host.startswith("*."):
        domain = host[2:]
        if not is_host_name(domain):
            raise RouteSyntaxError(f'host {quoted(text)} is not a valid wildcard: "*." and a host name')
        if "." not in domain:
            raise RouteSyntaxError(f"host {quoted(text)} would claim a whole top-level domain; name a domain")
        _refuse_addresses(text, domain)
        if public_suffixes().is_public(domain):
            raise RouteSyntaxError(
                f"host {quoted(text)} would claim every site under {quoted(domain)}, a public suffix"
                f" (Public Suffix List) where unrelated parties register domains; name a domain"
                f" registered under it, such as *.example.{domain}"
            )
        return HostPattern(host, HostKind.DOMAIN, "." + domain)
    if not is_host_name(host):
        raise RouteSyntaxError(f'host {quoted(text)} must be "*", a host name or "*.domain"')
    _refuse_addresses(text, host)
    if public_suffixes().is_public(host):
        raise RouteSyntaxError(
            f"host {quoted(text)} is a public suffix (Public Suffix List), where unrelated parties"
            f" register domains, not a site; name a host under a domain registered there, such as"
            f" app.example.{host}"
        )
    return HostPattern(host, HostKind.EXACT, host)


@functools.cache
def public_suffixes() -> PublicSuffixList:
    """The Public Suffix List the package ships (ICANN and private sections, so `github.io` too),
    read on first use; a top-level domain it does not list counts as public (its `*` rule)."""
    return PublicSuffixList()


def _refuse_addresses(text: str, name: str) -> None:
    """A project claims domain names only: an IP address, a one-label name (`localhost`) or one
    whose top-level label is all digits (RFC 3696 §2; resolvers read `2130706433` as an address)
    would take requests sent to a node by its address: health checks, load balancers, curl."""
    labels = name.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise RouteSyntaxError(
            f"host {quoted(text)} is an address or a one-label name; a route claims a domain name"
            " such as app.example.com"
        )


def parse_path(text: str) -> PathPattern:
    if not text.startswith("/"):
        raise RouteSyntaxError(f'path {quoted(text)} must start with "/"')
    if len(text) > MAX_PATH_LENGTH:
        raise RouteSyntaxError(f"path is longer than {MAX_PATH_LENGTH} characters")
    parts = text[1:].split("/")
    rest = parts[-1] == "*"
    if rest:
        parts.pop()
    segments: list[str | None] = []
    names: list[str] = []
    for position, part in enumerate(parts, 1):
        if part == "":
            if position != len(parts) or rest:
                raise RouteSyntaxError(f"path {quoted(text)} has an empty segment")
            segments.append("")
        elif part == "*":
            raise RouteSyntaxError(f'path {quoted(text)} may use "*" only as its final segment')
        elif part.startswith("{") or part.endswith("}"):
            param = _PARAM.fullmatch(part)
            if param is None:
                raise RouteSyntaxError(
                    f"path {quoted(text)}: segment {quoted(part)} must be {{name}} with a name of a-z,"
                    " 0-9 and '_', not starting with a digit, at most 64 characters"
                )
            if param.group(1) in names:
                raise RouteSyntaxError(f"path {quoted(text)} repeats the parameter {part}")
            names.append(param.group(1))
            segments.append(None)
        elif not _LITERAL.fullmatch(part):
            raise RouteSyntaxError(
                f"path {quoted(text)}: segment {quoted(part)} has characters a URL path segment"
                " cannot hold literally"
            )
        else:
            try:
                segments.append(unquote_to_bytes(part).decode("utf-8") if "%" in part else part)
            except UnicodeDecodeError:
                raise RouteSyntaxError(
                    f"path {quoted(text)}: segment {quoted(part)} does not decode as UTF-8"
                ) from None
    return PathPattern(text, tuple(segments), tuple(names), rest)


def parse_methods(methods: Iterable[str]) -> frozenset[str]:
    found = frozenset(methods)
    if bad := sorted(m for m in found if m not in METHODS):
        raise RouteSyntaxError(f"methods {', '.join(map(quoted, bad))} are not among {', '.join(METHODS)}")
    return found


def parse_route(host: str, path: str, methods: Iterable[str] = ()) -> RoutePattern:
    return RoutePattern(parse_host(host), parse_path(path), parse_methods(methods))


def normalize_host(host: str) -> str:
    """A request's Host as host patterns compare it: lower-case, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal, "[::1]:8080"
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")
